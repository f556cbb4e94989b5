// order.processed -> the end of the chain: records when it was reached (wall clock,
// epoch ms with a fraction, taken as the handler starts) in the run's state group,
// and tells the client over UDP when the order asked for it (`notify`: a port on
// 127.0.0.1), so the client needs no polling to time one order.
import { createSocket } from 'node:dgram';

export const config = {
  name: 'FinishOrder',
  type: 'event',
  subscribes: ['order.processed'],
  emits: [],
  flows: ['orders'],
};

export const handler = async (input, { state }) => {
  const doneAt = performance.timeOrigin + performance.now();
  await state.set(`run-${input.run}`, input.id, { id: input.id, doneAt });
  if (input.notify) {
    const socket = createSocket('udp4');
    const message = JSON.stringify({ id: input.id, doneAt });
    await new Promise((resolve) => socket.send(message, input.notify, '127.0.0.1', () => resolve(null)));
    socket.close();
  }
};
