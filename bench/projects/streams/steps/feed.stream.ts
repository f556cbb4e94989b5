// The stream the fan-out benchmark writes: a counter and the writer's clock.
export const config = {
  name: 'feed',
  schema: {
    type: 'object',
    properties: { n: { type: 'integer' }, t: { type: 'number' } },
    required: ['n', 't'],
  },
  baseConfig: { storageType: 'default' },
}
