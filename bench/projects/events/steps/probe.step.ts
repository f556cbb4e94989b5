// POST /probe {id}: one event, with the wall-clock time (epoch ms with a fraction)
// just before the emit; the subscriber notes when its handler starts. The answer
// also says when the emit returned (committed), to split the latency in two.
export const config = {
  name: 'Probe',
  type: 'api',
  path: '/probe',
  method: 'POST',
  emits: ['probe'],
  flows: ['events'],
};

export const handler = async (req, { emit }) => {
  const emitAt = performance.timeOrigin + performance.now();
  await emit({ topic: 'probe', data: { id: req.body.id, emitAt } });
  const committedAt = performance.timeOrigin + performance.now();
  return { status: 200, body: { emitAt, committedAt } };
};
