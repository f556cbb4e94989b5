// Conformance fixture ConformanceEmit (protocol/SPEC.md §11.1).
type Emit = (event: { topic: string; data: unknown }) => Promise<{ eventId: string }>

export const config = { name: 'ConformanceEmit', type: 'api', path: '/conformance/emit', method: 'POST', emits: ['conformance.emitted'] }

export const handler = async (req: { body: unknown }, { emit }: { emit: Emit }) => {
  let data = req.body
  const pad = typeof data === 'object' && data !== null ? (data as { pad?: unknown }).pad : undefined
  if (Number.isInteger(pad)) data = { ...(data as object), pad: 'x'.repeat(pad as number) }
  const sent = await emit({ topic: 'conformance.emitted', data })
  return { status: 200, body: { eventId: sent.eventId } }
}
