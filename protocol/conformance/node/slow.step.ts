// Conformance fixture ConformanceSlow (protocol/SPEC.md §11.1): stops when its signal aborts.
export const config = { name: 'ConformanceSlow', type: 'event', subscribes: ['conformance.slow'], emits: [] }

export const handler = async (input: { ms?: number } | null, { signal }: { signal: AbortSignal }) => {
  const ms = input?.ms ?? 60000
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
