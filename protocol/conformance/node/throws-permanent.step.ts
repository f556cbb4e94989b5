// Conformance fixture ConformanceThrowsPermanent (protocol/SPEC.md §11.1):
// any error with `retryable = false` is permanent (NonRetryableError from
// '@motiad/sdk' is one).
export const config = { name: 'ConformanceThrowsPermanent', type: 'event', subscribes: ['conformance.permanent'], emits: [] }

class PermanentError extends Error {
  retryable = false
}

export const handler = async () => {
  throw new PermanentError('permanent failure')
}
