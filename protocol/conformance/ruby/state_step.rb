# Conformance fixture `ConformanceState` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceState', type: 'api', path: '/conformance/state', method: 'POST', emits: [] }
end

def handler(req, context)
  group = req['body']['group']
  stored = context.state.set(group, 'a', { n: 1 })
  context.state.set(group, 'b', { n: 2 })
  got = context.state.get(group, 'a')
  values = context.state.get_group(group)
  deleted = context.state.delete(group, 'a')
  context.state.clear(group)
  { status: 200, body: { set: stored, got: got, group: values, deleted: deleted } }
end
