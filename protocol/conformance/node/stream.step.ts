// Conformance fixture ConformanceStream (protocol/SPEC.md §11.1).
type Stream = {
  get(group: string, id: string): Promise<unknown>
  set(group: string, id: string, data: unknown): Promise<unknown>
  delete(group: string, id: string): Promise<unknown>
  getGroup(group: string): Promise<unknown[]>
  send(channel: { groupId: string; id?: string }, event: { type: string; data: unknown }): Promise<null>
}

export const config = { name: 'ConformanceStream', type: 'api', path: '/conformance/stream', method: 'POST', emits: [] }

export const handler = async (req: { body: { group: string } }, { streams }: { streams: { conformance: Stream } }) => {
  const group = req.body.group
  const stream = streams.conformance
  const stored = await stream.set(group, 'a', { n: 1 })
  const got = await stream.get(group, 'a')
  const items = await stream.getGroup(group)
  await stream.send({ groupId: group }, { type: 'ping', data: { n: 2 } })
  const deleted = await stream.delete(group, 'a')
  return { status: 200, body: { set: stored, got, group: items, deleted } }
}
