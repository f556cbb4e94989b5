// GET /probe/:id -> {found, emitAt, startAt} once the subscriber ran.
export const config = {
  name: 'GetProbe',
  type: 'api',
  path: '/probe/:id',
  method: 'GET',
  emits: [],
  flows: ['events'],
};

export const handler = async (req, { state }) => {
  const probe = await state.get('probe', req.pathParams.id);
  return { status: 200, body: probe ? { found: true, ...probe } : { found: false } };
};
