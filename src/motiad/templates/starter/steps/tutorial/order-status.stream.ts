import type { StreamConfig } from 'motia'

// Live status of each order: the workbench's Streams view (and any client of
// the WebSocket on the API's port) sees every change as it happens.
export const config: StreamConfig = {
  name: 'orderStatus',
  schema: {
    type: 'object',
    properties: {
      item: { type: 'string' },
      quantity: { type: 'integer' },
      status: { type: 'string', enum: ['received', 'packed', 'notified'] },
    },
    required: ['item', 'quantity', 'status'],
  },
  baseConfig: { storageType: 'default' },
}
