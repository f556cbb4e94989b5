// HTTP with server-sent events: status and headers on `response`, events
// written to `response.stream` (Motia 1.x's playground sse.step.ts).
import { http, stateManager, type Handlers, type StepConfig } from 'motia'

export const config = {
  name: 'OrderFeed',
  flows: ['orders'],
  triggers: [http('GET', '/orders/feed')],
  enqueues: [],
} as const satisfies StepConfig

export const handler: Handlers<typeof config> = async ({ response }) => {
  response.status(200)
  response.headers({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  for (const order of await stateManager.list<{ item: string; status: string }>('orders')) {
    response.stream.write(`event: order\ndata: ${JSON.stringify(order)}\n\n`)
  }
  response.stream.write('event: done\ndata: {}\n\n')
  response.close()
}
