// GET /runs/:run -> how many orders of a run reached the end of the chain, when the
// first and the last got there (epoch ms), and with ?ids=1 which ones.
export const config = {
  name: 'GetRun',
  type: 'api',
  path: '/runs/:run',
  method: 'GET',
  emits: [],
  flows: ['orders'],
};

export const handler = async (req, { state }) => {
  const done = (await state.getGroup(`run-${req.pathParams.run}`)) ?? [];
  let first = null;
  let last = null;
  for (const order of done) {
    first = first === null ? order.doneAt : Math.min(first, order.doneAt);
    last = last === null ? order.doneAt : Math.max(last, order.doneAt);
  }
  const body = { count: done.length, first, last };
  if (req.queryParams.ids) body.ids = done.map((order) => order.id);
  return { status: 200, body };
};
