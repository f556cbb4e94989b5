import type { ApiRouteConfig, Handlers } from 'motia'

// Tutorial, step 1: an API step. POST /orders checks the body against
// bodySchema (a bad one gets a 400 naming the field), starts a trace, puts the
// order on the live stream and emits `order.created` for the next step.
export const config: ApiRouteConfig = {
  name: 'CreateOrder',
  type: 'api',
  description: 'Takes an order and hands it to the packing step',
  path: '/orders',
  method: 'POST',
  bodySchema: {
    type: 'object',
    properties: {
      item: { type: 'string', minLength: 1 },
      quantity: { type: 'integer', minimum: 1 },
    },
    required: ['item', 'quantity'],
  },
  responseSchema: {
    201: {
      type: 'object',
      properties: { orderId: { type: 'string' } },
      required: ['orderId'],
    },
  },
  emits: ['order.created'],
  flows: ['tutorial'],
}

export const handler: Handlers['CreateOrder'] = async (req, { emit, logger, streams, traceId }) => {
  const orderId = traceId.slice(-8)
  const { item, quantity } = req.body
  logger.info('Order received', { orderId, item, quantity })
  await streams.orderStatus.set('orders', orderId, { item, quantity, status: 'received' })
  await emit({ topic: 'order.created', data: { orderId, item, quantity } })
  return { status: 201, body: { orderId } }
}
