# Conformance fixture `ConformanceEcho` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceEcho', type: 'api', path: '/conformance/echo', method: 'POST', emits: [] }
end

def handler(req, context)
  body = { body: req['body'], pathParams: req['pathParams'], queryParams: req['queryParams'],
           traceId: context.trace_id, traceparent: context.traceparent }
  pad = req['body']['pad'] if req['body'].is_a?(Hash)
  body[:pad] = 'x' * pad if pad.is_a?(Integer)
  { status: 200, body: body, headers: { 'x-conformance' => 'echo' } }
end
