import type { EventConfig, Handlers } from 'motia'
import { z } from 'zod'
import { priorityOf } from './priority'
import { BOARD } from './tickets.stream'

export const config: EventConfig = {
  type: 'event',
  name: 'TriageTicket',
  description: 'Gives a new ticket its priority from its words',
  subscribes: ['ticket.created'],
  emits: ['ticket.triaged'],
  input: z.object({ id: z.string(), title: z.string(), description: z.string() }),
  flows: ['helpdesk'],
}

export const handler: Handlers['TriageTicket'] = async (input, { emit, logger, streams }) => {
  const priority = priorityOf(`${input.title} ${input.description}`)
  const ticket = await streams.tickets.get(BOARD, input.id)
  if (!ticket) {
    logger.warn('Ticket is gone before triage', { id: input.id })
    return
  }

  await streams.tickets.set(BOARD, input.id, {
    ...ticket,
    status: 'triaged',
    priority,
    updatedAt: new Date().toISOString(),
  })
  await emit({ topic: 'ticket.triaged', data: { id: input.id, priority } })
  logger.info('Ticket triaged', { id: input.id, priority })
}
