# Conformance fixture `ConformanceLogs` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceLogs', type: 'event', subscribes: ['conformance.logs'], emits: [] }
end

def handler(input, context)
  context.logger.info('conformance log', { n: 1 })
  if input['unsafe'] # values JSON cannot hold (SPEC `log.notification`)
    context.logger.info('conformance unsafe', { nan: Float::NAN, inf: Float::INFINITY, object: Object.new, list: [Float::NAN] })
    context.logger.info('conformance not a map', ['a', 1])
  end
  puts "conformance stdout #{input['mark']}"
end
