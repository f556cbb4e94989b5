// HTTP trigger: a typed body, an atomic update, enqueue. Written as Motia 1.x's
// quick start writes steps; `motia` is motiad's own module here.
import { enqueue, http, logger, stateManager, type Handlers, type StepConfig } from 'motia'

export const config = {
  name: 'PlaceOrder',
  description: 'Takes an order and queues it',
  flows: ['orders'],
  triggers: [
    http('POST', '/orders', {
      bodySchema: {
        type: 'object',
        properties: { item: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } },
        required: ['item', 'quantity'],
      },
    }),
  ],
  enqueues: ['order.placed'],
} as const satisfies StepConfig

export const handler: Handlers<typeof config> = async ({ request }, { traceId }) => {
  const { item, quantity } = request.body as { item: string; quantity: number }
  const { new_value } = await stateManager.update('stats', 'orders', [{ type: 'increment', path: 'placed', by: 1 }])
  await enqueue({ topic: 'order.placed', data: { item, quantity, traceId } })
  logger.info('order placed', { item, quantity })
  return { status: 202, body: { queued: true, placed: (new_value as { placed: number }).placed } }
}
