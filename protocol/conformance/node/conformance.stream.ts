// The stream ConformanceStream uses (protocol/SPEC.md §11.1, lifecycle.streams),
// with Motia 1.x's hooks (stream.hooks): onJoin refuses an auth context that
// says deny, onLeave logs through its context.
export const config = {
  name: 'conformance',
  baseConfig: { storageType: 'default' },
  onJoin: async (_subscription: unknown, _context: unknown, authContext?: { deny?: boolean }) => ({
    unauthorized: authContext?.deny === true,
  }),
  onLeave: async (_subscription: unknown, context: { logger: { info: (m: string) => void } }) => {
    context.logger.info('conformance left')
  },
}
