// A stream, as Motia 1.x declares one (a zod schema works too).
import { Stream, type StreamConfig } from 'motia'

export const config: StreamConfig = {
  name: 'shipments',
  schema: {
    type: 'object',
    properties: { item: { type: 'string' }, status: { type: 'string' } },
    required: ['item', 'status'],
  },
  baseConfig: { storageType: 'default' },
}

export const shipmentsStream = new Stream(config)
