// POST /record {id}: one event per request; the subscriber appends its id to a file,
// so a broker killed with -9 can be checked for lost and duplicated events.
export const config = {
  name: 'Record',
  type: 'api',
  path: '/record',
  method: 'POST',
  emits: ['record'],
  flows: ['events'],
};

export const handler = async (req, { emit }) => {
  await emit({ topic: 'record', data: { id: req.body.id } });
  return { status: 200, body: { id: req.body.id } };
};
