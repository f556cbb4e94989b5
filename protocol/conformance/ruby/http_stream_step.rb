# Conformance fixture `ConformanceHttpStream` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceHttpStream', type: 'api', path: '/conformance/http-stream', method: 'POST', emits: [] }
end

def handler(req, context)
  response = context.stream_response(201, { 'x-conformance' => 'stream' })
  (req['body']['chunks'] || []).each { |chunk| response.write(chunk) }
  response.write("\x00\xff".b)
  { status: 200, body: { ignored: true } }
end
