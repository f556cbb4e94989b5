import type { StreamConfig } from 'motia'
import { z } from 'zod'

// What the help desk board shows for each ticket, live. Every stored item also
// carries its `id` (the ticket id), which the schema does not need to declare.
export const ticketSchema = z.object({
  title: z.string(),
  customer: z.string(),
  status: z.enum(['open', 'triaged', 'assigned', 'escalated']),
  priority: z.enum(['low', 'normal', 'urgent']).optional(),
  assignee: z.string().optional(),
  updatedAt: z.string(),
})

export type Ticket = z.infer<typeof ticketSchema>

// All tickets live in one group: the board subscribes to it.
export const BOARD = 'board'

export const config: StreamConfig = {
  name: 'tickets',
  schema: ticketSchema,
  baseConfig: { storageType: 'default' },
}
