# Conformance fixture `ConformanceLogs` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceLogs', type: 'event', subscribes: ['conformance.logs'], emits: [] }
end

def handler(input, context)
  context.logger.info('conformance log', { n: 1 })
  puts "conformance stdout #{input['mark']}"
end
