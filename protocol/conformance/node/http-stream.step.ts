// Conformance fixture ConformanceHttpStream (protocol/SPEC.md §11.1).
import type { Writable } from 'node:stream'

type Request = { body: { chunks?: string[] } }
type Context = { streamResponse(status?: number, headers?: Record<string, string>): Writable }

export const config = { name: 'ConformanceHttpStream', type: 'api', path: '/conformance/http-stream', method: 'POST', emits: [] }

const write = (stream: Writable, chunk: string | Buffer) =>
  new Promise<void>((resolve, reject) => stream.write(chunk, (err) => (err ? reject(err) : resolve())))

export const handler = async (req: Request, ctx: Context) => {
  const response = ctx.streamResponse(201, { 'x-conformance': 'stream' })
  for (const chunk of req.body.chunks ?? []) await write(response, chunk)
  await write(response, Buffer.from([0x00, 0xff]))
  return { status: 200, body: { ignored: true } }
}
