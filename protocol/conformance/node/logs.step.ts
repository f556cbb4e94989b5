// Conformance fixture ConformanceLogs (protocol/SPEC.md §11.1).
type Logger = { info(message: string, fields?: Record<string, unknown>): void }

export const config = { name: 'ConformanceLogs', type: 'event', subscribes: ['conformance.logs'], emits: [] }

export const handler = async (input: { mark: string }, { logger }: { logger: Logger }) => {
  logger.info('conformance log', { n: 1 })
  console.log(`conformance stdout ${input.mark}`)
}
