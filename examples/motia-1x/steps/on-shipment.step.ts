// Stream trigger: runs for each new shipment of today's group.
import { logger, type Handlers, type StepConfig } from 'motia'

export const config = {
  name: 'OnShipment',
  flows: ['orders'],
  triggers: [{ type: 'stream', streamName: 'shipments', groupId: 'today' }],
  enqueues: [],
} as const satisfies StepConfig

export const handler: Handlers<typeof config> = async (input) => {
  logger.info('shipment changed', { id: input.id, change: input.event.type, data: input.event.data })
}
