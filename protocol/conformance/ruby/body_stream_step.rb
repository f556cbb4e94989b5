# Conformance fixture `ConformanceBodyStream` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceBodyStream', type: 'api', path: '/conformance/body-stream', method: 'POST', emits: [],
    streamBody: true }
end

def handler(_req, context)
  seen = context.body_stream.to_a
  whole = seen.join.b
  { status: 200, body: { bytes: whole.bytesize, chunks: seen.size, hex: whole[0, 16].unpack1('H*') } }
end
