import type { EventConfig, Handlers } from 'motia'

export const config: EventConfig = {
  name: 'LogGreeting',
  type: 'event',
  description: 'Logs every greeting',
  subscribes: ['greeting.stored'],
  emits: [],
  input: {
    type: 'object',
    properties: { greeting: { type: 'string' } },
    required: ['greeting'],
  },
  flows: ['hello'],
}

export const handler: Handlers['LogGreeting'] = async (input, { logger }) => {
  logger.info(input.greeting)
}
