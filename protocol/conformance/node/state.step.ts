// Conformance fixture ConformanceState (protocol/SPEC.md §11.1).
type State = {
  get(group: string, key: string): Promise<unknown>
  set(group: string, key: string, value: unknown): Promise<unknown>
  delete(group: string, key: string): Promise<unknown>
  getGroup(group: string): Promise<unknown[]>
  clear(group: string): Promise<void>
}

export const config = { name: 'ConformanceState', type: 'api', path: '/conformance/state', method: 'POST', emits: [] }

export const handler = async (req: { body: { group: string } }, { state }: { state: State }) => {
  const group = req.body.group
  const stored = await state.set(group, 'a', { n: 1 })
  await state.set(group, 'b', { n: 2 })
  const got = await state.get(group, 'a')
  const values = await state.getGroup(group)
  const deleted = await state.delete(group, 'a')
  await state.clear(group)
  return { status: 200, body: { set: stored, got, group: values, deleted } }
}
