import type { CronConfig, Handlers } from 'motia'
import { BOARD } from './tickets.stream'

// A ticket nobody has taken within this time is escalated.
const STALE_AFTER_MS = 30 * 60 * 1000

export const config: CronConfig = {
  type: 'cron',
  name: 'EscalateStaleTickets',
  description: 'Escalates tickets left without an agent for half an hour',
  cron: '*/5 * * * *', // every 5 minutes
  emits: [],
  flows: ['helpdesk'],
}

export const handler: Handlers['EscalateStaleTickets'] = async ({ logger, streams }) => {
  const now = Date.now()
  for (const ticket of await streams.tickets.getGroup(BOARD)) {
    const waiting = ticket.status === 'open' || ticket.status === 'triaged'
    if (waiting && now - Date.parse(ticket.updatedAt) > STALE_AFTER_MS) {
      await streams.tickets.set(BOARD, ticket.id, { ...ticket, status: 'escalated', updatedAt: new Date().toISOString() })
      logger.warn('Ticket escalated', { id: ticket.id })
    }
  }
}
