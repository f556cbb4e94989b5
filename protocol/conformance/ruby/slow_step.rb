# Conformance fixture `ConformanceSlow` (protocol/SPEC.md §11.1): stops when cancelled.

def config
  { name: 'ConformanceSlow', type: 'event', subscribes: ['conformance.slow'], emits: [] }
end

def handler(input, _context)
  sleep((input || {}).fetch('ms', 60_000) / 1000.0)
end
