// POST /probe {id}: one event, with the wall-clock time (epoch ms with a fraction)
// just before the emit; the subscriber notes when its handler starts.
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
  return { status: 200, body: { emitAt, clock: Date.now() } };
};
