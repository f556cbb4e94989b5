# Conformance fixture `ConformanceConcurrent` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceConcurrent', type: 'event', subscribes: ['conformance.concurrent'], emits: [] }
end

def handler(input, context)
  context.state.get('conformance', input['key'])
end
