// Conformance fixture ConformanceEcho (protocol/SPEC.md §11.1).
type Request = { body: unknown; pathParams: Record<string, string>; queryParams: Record<string, string | string[]> }

export const config = { name: 'ConformanceEcho', type: 'api', path: '/conformance/echo', method: 'POST', emits: [] }

export const handler = async (req: Request, ctx: { traceId: string; traceparent?: string }) => {
  const body: Record<string, unknown> = {
    body: req.body, pathParams: req.pathParams, queryParams: req.queryParams, traceId: ctx.traceId, traceparent: ctx.traceparent ?? null,
  }
  const pad = typeof req.body === 'object' && req.body !== null ? (req.body as { pad?: unknown }).pad : undefined
  if (Number.isInteger(pad)) body.pad = 'x'.repeat(pad as number)
  return { status: 200, body, headers: { 'x-conformance': 'echo' } }
}
