# Conformance fixture `ConformanceThrows` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceThrows', type: 'event', subscribes: ['conformance.throws'], emits: [] }
end

# An ordinary, retryable failure.
class ConformanceError < StandardError; end

def handler(_input, _context)
  raise ConformanceError, 'conformance failure'
end
