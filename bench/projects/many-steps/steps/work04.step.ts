// One of 20 small TypeScript event steps of the many-steps project (issue 17).
export const config = {
  name: 'WorkTs04',
  type: 'event',
  subscribes: ['work.ts.04'],
  emits: [],
  flows: ['many'],
};

export const handler = async (input: unknown, { logger }: { logger: { info: (m: string) => void } }) => {
  logger.info('handled');
};
