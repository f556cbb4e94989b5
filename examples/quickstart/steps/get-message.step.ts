export const config = {
  name: 'GetMessage',
  type: 'api',
  description: 'Reads back a message that StoreMessage kept in state',
  path: '/messages/:text',
  method: 'GET',
  emits: []
};

export const handler = async (req, { state }) => {
  const message = await state.get('messages', req.pathParams.text);
  if (message === null) {
    return { status: 404, body: { error: `no message with text '${req.pathParams.text}'` } };
  }
  return { status: 200, body: message };
};
