// POST /feed {count, group}: one set loop, each set awaited, each item carrying the
// wall clock just before its set (the clients subtract it from their own).
export const config = { name: 'Feed', type: 'api', path: '/feed', method: 'POST', emits: [] }

export const handler = async (
  req: { body: { count: number; group: string } },
  { streams }: { streams: Record<string, { set(g: string, id: string, data: unknown): Promise<unknown> }> },
) => {
  const { count, group } = req.body
  const started = performance.now()
  for (let n = 0; n < count; n++) {
    await streams.feed.set(group, 'item', { n, t: performance.timeOrigin + performance.now() })
  }
  return { status: 200, body: { count, ms: performance.now() - started } }
}
