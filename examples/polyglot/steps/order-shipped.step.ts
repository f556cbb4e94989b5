// TypeScript again: the end of the flow, logged under the same trace.
export const config = {
  name: 'OrderShipped',
  type: 'event',
  subscribes: ['order.shipped'],
  emits: [],
  flows: ['orders'],
};

type Ctx = {
  state: { get(group: string, key: string): Promise<{ tracking: string; steps: string[] } | null> };
  logger: { info(message: string, fields?: Record<string, unknown>): void };
};

export const handler = async (input: { id: string }, { state, logger }: Ctx) => {
  const order = await state.get('orders', input.id);
  logger.info('Order complete', { id: input.id, tracking: order?.tracking, steps: order?.steps });
};
