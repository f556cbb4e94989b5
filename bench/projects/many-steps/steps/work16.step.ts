// One of 20 small TypeScript event steps of the many-steps project (issue 17).
export const config = {
  name: 'WorkTs16',
  type: 'event',
  subscribes: ['work.ts.16'],
  emits: [],
  flows: ['many'],
};

export const handler = async (input: unknown, { logger }: { logger: { info: (m: string) => void } }) => {
  logger.info('handled');
};
