// POST /burst {n}: emits n events at once (every emit in flight together, as a
// handler that fans out would) and answers once all are committed.
export const config = {
  name: 'Burst',
  type: 'api',
  path: '/burst',
  method: 'POST',
  emits: ['burst.noop'],
  flows: ['events'],
};

export const handler = async (req, { emit }) => {
  const n = req.body.n;
  const emits = [];
  for (let i = 0; i < n; i++) emits.push(emit({ topic: 'burst.noop', data: { i } }));
  await Promise.all(emits);
  return { status: 200, body: { n } };
};
