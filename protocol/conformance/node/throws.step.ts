// Conformance fixture ConformanceThrows (protocol/SPEC.md §11.1).
export const config = { name: 'ConformanceThrows', type: 'event', subscribes: ['conformance.throws'], emits: [] }

class ConformanceError extends Error {}

export const handler = async () => {
  throw new ConformanceError('conformance failure')
}
