// Compiled by `npm run typecheck`, never run: step files written against the
// public types in index.d.ts must type-check as users would write them.

import type { ApiMiddleware, ApiRouteConfig, ApiRouteHandler, CronConfig, CronHandler, EventConfig, EventHandler, Handlers, NoopConfig } from '../index.js'
import { NonRetryableError } from '../src/index.mjs'

const requireToken: ApiMiddleware = async (req, { logger }, next) => {
  if (!req.headers.authorization) return { status: 401, body: { error: 'Unauthorized' } }
  const response = await next()
  logger.info('answered', { status: response.status })
  return { ...response, headers: { ...response.headers, 'x-checked': 'yes' } }
}

export const apiConfig: ApiRouteConfig = {
  name: 'SendMessage',
  type: 'api',
  path: '/messages',
  method: 'POST',
  emits: ['message.sent'],
  responseSchema: { 200: { type: 'object' } },
  middleware: [requireToken],
}

export const apiHandler: ApiRouteHandler<{ text: string }> = async (req, { emit, logger, state, signal, traceId }) => {
  const { eventId } = await emit({ topic: 'message.sent', data: { text: req.body.text } })
  const count = (await state.get<number>(traceId, 'count')) ?? 0
  await state.set(traceId, 'count', count + 1)
  logger.info('sent', { eventId, aborted: signal.aborted })
  return { status: 200, body: { ok: true }, headers: { 'x-event': eventId } }
}

export const eventConfig: EventConfig = { name: 'ProcessMessage', type: 'event', subscribes: ['message.sent'], infrastructure: { queue: { type: 'fifo', maxRetries: 3 } } }

export const eventHandler: EventHandler<{ text: string }> = async (input, { logger, attempt, eventId, topic }) => {
  if (input.text === '') throw new NonRetryableError('empty text')
  logger.warn('processing', { attempt, eventId, topic })
}

export const cronConfig: CronConfig = { name: 'Tick', type: 'cron', cron: '0 * * * *' }

export const cronHandler: CronHandler = async ({ state }) => {
  await state.clear('ticks')
}

export const noopConfig: NoopConfig = { name: 'Human', type: 'noop', virtualEmits: ['approved'], virtualSubscribes: ['review'] }

// Motia style: handlers looked up by step name.
export const byName: Handlers['SendMessage'] = async (req: { body: unknown }) => ({ status: 204, body: req.body })
