// Conformance fixture ConformanceIgnoresCancel (protocol/SPEC.md §11.1):
// never looks at its signal.
export const config = { name: 'ConformanceIgnoresCancel', type: 'event', subscribes: ['conformance.stubborn'], emits: [] }

export const handler = async (input: { ms?: number } | null) => {
  await new Promise<void>((resolve) => setTimeout(resolve, input?.ms ?? 1000))
}
