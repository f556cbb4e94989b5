// Conformance fixture ConformanceLogs (protocol/SPEC.md §11.1).
type Logger = { info(message: string, fields?: unknown): void }

export const config = { name: 'ConformanceLogs', type: 'event', subscribes: ['conformance.logs'], emits: [] }

export const handler = async (input: { mark: string; unsafe?: boolean }, { logger }: { logger: Logger }) => {
  logger.info('conformance log', { n: 1 })
  if (input.unsafe) {
    // values JSON cannot hold (SPEC log.notification)
    logger.info('conformance unsafe', { nan: NaN, inf: Infinity, object: BigInt(1), list: [NaN] })
    logger.info('conformance not a map', ['a', 1])
  }
  console.log(`conformance stdout ${input.mark}`)
}
