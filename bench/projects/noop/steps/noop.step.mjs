// A no-op event handler: the invoke micro-benchmark drives it straight through
// motiad.supervisor.Child (broker -> child -> broker), no HTTP, no storage.
export const config = { name: 'NoopNode', type: 'event', subscribes: ['noop'], emits: [] };

export const handler = async () => {};
