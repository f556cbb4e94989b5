import { randomUUID } from 'node:crypto'
import type { ApiRouteConfig, Handlers } from 'motia'
import { z } from 'zod'
import { authMiddleware } from '../middlewares/auth.middleware'
import { BOARD } from './tickets.stream'

const bodySchema = z.object({
  title: z.string().min(3),
  description: z.string().default(''),
  customer: z.object({ email: z.string().email() }),
})

export const config: ApiRouteConfig = {
  type: 'api',
  name: 'CreateTicket',
  description: 'Files a support ticket and starts its triage',
  path: '/tickets',
  method: 'POST',
  middleware: [authMiddleware],
  bodySchema,
  responseSchema: {
    201: z.object({ id: z.string(), status: z.string(), traceId: z.string() }),
  },
  emits: ['ticket.created'],
  flows: ['helpdesk'],
}

export const handler: Handlers['CreateTicket'] = async (req, { emit, logger, streams, traceId }) => {
  const { title, description, customer } = bodySchema.parse(req.body)
  const id = `T-${randomUUID().slice(0, 8)}`

  await streams.tickets.set(BOARD, id, {
    title,
    customer: customer.email,
    status: 'open',
    updatedAt: new Date().toISOString(),
  })
  await emit({ topic: 'ticket.created', data: { id, title, description } })

  logger.info('Ticket created', { id, customer: customer.email })
  return { status: 201, body: { id, status: 'open', traceId } }
}
