// POST /orders: the head of the chain. The client picks the order id and a run id
// (so each benchmark round counts its own orders); `notify` (optional) is a UDP
// port on 127.0.0.1 that the last step tells when it is done.
export const config = {
  name: 'CreateOrder',
  type: 'api',
  path: '/orders',
  method: 'POST',
  emits: ['order.created'],
  flows: ['orders'],
};

export const handler = async (req, { emit }) => {
  const { id, run, items, notify } = req.body;
  await emit({ topic: 'order.created', data: { id, run, items, notify: notify ?? null } });
  return { status: 200, body: { id } };
};
