// Conformance fixture ConformanceBodyStream (protocol/SPEC.md §11.1).
import type { Readable } from 'node:stream'

export const config = {
  name: 'ConformanceBodyStream', type: 'api', path: '/conformance/body-stream', method: 'POST', emits: [], streamBody: true,
}

export const handler = async (_req: unknown, ctx: { bodyStream?: Readable }) => {
  const seen: Buffer[] = []
  for await (const chunk of ctx.bodyStream ?? []) seen.push(chunk as Buffer)
  const whole = Buffer.concat(seen)
  return { status: 200, body: { bytes: whole.length, chunks: seen.length, hex: whole.subarray(0, 16).toString('hex') } }
}
