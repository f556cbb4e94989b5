# Conformance fixture `ConformanceStream` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceStream', type: 'api', path: '/conformance/stream', method: 'POST', emits: [] }
end

def handler(req, context)
  group = req['body']['group']
  stream = context.streams.conformance
  stored = stream.set(group, 'a', { n: 1 })
  got = stream.get(group, 'a')
  items = stream.get_group(group)
  stream.send({ groupId: group }, { type: 'ping', data: { n: 2 } })
  deleted = stream.delete(group, 'a')
  { status: 200, body: { set: stored, got: got, group: items, deleted: deleted } }
end
