# Conformance fixture `ConformanceThrowsPermanent` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceThrowsPermanent', type: 'event', subscribes: ['conformance.permanent'], emits: [] }
end

def handler(_input, _context)
  raise Motiad::NonRetryableError, 'permanent failure'
end
