# Conformance fixture `ConformanceEmit` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceEmit', type: 'api', path: '/conformance/emit', method: 'POST',
    emits: ['conformance.emitted'] }
end

def handler(req, context)
  data = req['body']
  pad = data['pad'] if data.is_a?(Hash)
  data = data.merge('pad' => 'x' * pad) if pad.is_a?(Integer)
  sent = context.emit(topic: 'conformance.emitted', data: data)
  { status: 200, body: { eventId: sent['eventId'] } }
end
