// TypeScript again: the end of the flow (after Ruby's invoice), logged under the same trace.
export const config = {
  name: 'OrderShipped',
  type: 'event',
  subscribes: ['order.invoiced'],
  emits: [],
  flows: ['orders'],
};

type Ctx = {
  state: { get(group: string, key: string): Promise<{ tracking: string; invoice: string; steps: string[] } | null> };
  logger: { info(message: string, fields?: Record<string, unknown>): void };
};

export const handler = async (input: { id: string }, { state, logger }: Ctx) => {
  const order = await state.get('orders', input.id);
  logger.info('Order complete', { id: input.id, tracking: order?.tracking, invoice: order?.invoice, steps: order?.steps });
};
