import type { ApiRouteConfig, Handlers } from 'motia'

export const config: ApiRouteConfig = {
  name: 'HelloApi',
  type: 'api',
  description: 'Takes a name and asks for a greeting',
  path: '/hello',
  method: 'POST',
  bodySchema: {
    type: 'object',
    properties: { name: { type: 'string', minLength: 1 } },
    required: ['name'],
  },
  responseSchema: {
    202: {
      type: 'object',
      properties: { traceId: { type: 'string' } },
      required: ['traceId'],
    },
  },
  emits: ['greeting.requested'],
  flows: ['hello'],
}

export const handler: Handlers['HelloApi'] = async (req, { emit, logger, traceId }) => {
  logger.info('Greeting requested', { name: req.body.name })
  await emit({ topic: 'greeting.requested', data: { name: req.body.name } })
  return { status: 202, body: { traceId } }
}
