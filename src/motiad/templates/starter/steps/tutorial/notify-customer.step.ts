import type { EventConfig, Handlers } from 'motia'

// Tutorial, step 3: an event step in TypeScript, after the Python one, in the
// same trace. It reads what PackOrder stored in state.
export const config: EventConfig = {
  name: 'NotifyCustomer',
  type: 'event',
  description: 'Tells the customer the order is on its way',
  subscribes: ['order.packed'],
  emits: [],
  input: {
    type: 'object',
    properties: { orderId: { type: 'string' } },
    required: ['orderId'],
  },
  flows: ['tutorial'],
}

export const handler: Handlers['NotifyCustomer'] = async (input, { logger, state, streams }) => {
  const order = await state.get<{ item: string; quantity: number }>('orders', input.orderId)
  if (!order) throw new Error(`order ${input.orderId} is not in state`)
  await streams.orderStatus.set('orders', input.orderId, { ...order, status: 'notified' })
  logger.info(`Your ${order.quantity} x ${order.item} is on its way`, { orderId: input.orderId })
}
