// TypeScript: takes an order over HTTP, keeps it in state, starts the flow.
export const config = {
  name: 'SubmitOrder',
  type: 'api',
  path: '/orders',
  method: 'POST',
  emits: ['order.submitted'],
  flows: ['orders'],
  bodySchema: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      items: {
        type: 'array',
        items: {
          type: 'object',
          properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
          required: ['sku', 'qty'],
        },
      },
    },
    required: ['id', 'items'],
  },
};

type Item = { sku: string; qty: number };
type Ctx = {
  emit(event: { topic: string; data: unknown }): Promise<unknown>;
  state: { set(group: string, key: string, value: unknown): Promise<unknown> };
  traceId: string;
};

export const handler = async (req: { body: { id: string; items: Item[] } }, { emit, state, traceId }: Ctx) => {
  const order = { id: req.body.id, items: req.body.items, status: 'submitted', steps: ['typescript'], traceId };
  await state.set('orders', order.id, order);
  await emit({ topic: 'order.submitted', data: { id: order.id } });
  return { status: 202, body: { id: order.id, status: order.status } };
};
