// GET /ping in TypeScript: the smallest API step, the same file on motiad and Motia.
export const config = {
  name: 'PingTs',
  type: 'api',
  path: '/ping',
  method: 'GET',
  emits: [],
  flows: ['ping'],
};

export const handler = async () => ({ status: 200, body: { pong: true } });
