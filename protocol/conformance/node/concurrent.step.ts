// Conformance fixture ConformanceConcurrent (protocol/SPEC.md §11.1).
type State = { get(group: string, key: string): Promise<unknown> }

export const config = { name: 'ConformanceConcurrent', type: 'event', subscribes: ['conformance.concurrent'], emits: [] }

export const handler = async (input: { key: string }, { state }: { state: State }) => {
  await state.get('conformance', input.key)
}
