# Conformance fixture `ConformanceNoop` (protocol/SPEC.md §11.1): loads, never runs.

def config
  { name: 'ConformanceNoop', type: 'noop', virtualEmits: ['conformance.virtual'], virtualSubscribes: [] }
end
