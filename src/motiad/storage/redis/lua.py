"""The Lua scripts of the Redis backend: each queue operation is one script, so
it is atomic however many brokers share the server.

Layout (``P`` is the key prefix, ``motiad:``):

- ``P d:<id>`` hash: one delivery: ``step``, ``list`` (its FIFO group's list key,
  or empty for a standard queue), ``due``, ``attempt``, ``event`` (the event as
  JSON), ``topic``, ``status`` (``pending``/``dead``), ``holder`` (the broker
  that leased it), ``error``, ``failed_at``.
- ``P due:<step>`` sorted set: pending deliveries of a standard queue by due time.
- ``P groups:<step>`` sorted set: FIFO group lists whose head may be taken, by
  the head's due time. ``P fifo:<step>:<group>`` list: the group's deliveries
  in emit order; only the head is ever leased, and a group leaves the sorted set
  while its head is out.
- ``P lease:<step>`` sorted set: taken deliveries by lease expiry. An expired
  lease is taken again by whichever broker looks first.
- ``P dead`` sorted set: dead letters by failure time. ``P seq``: delivery ids.
- ``P enqueued`` list: events from ``motiad emit`` waiting for a broker to route.
- ``P wake`` channel: a step name whenever its queue got a new head (something
  to take for a consumer that found nothing).
"""

from __future__ import annotations

_COMMON = """
local P = ARGV[1]
local function rkey(id) return P .. 'd:' .. id end
local function due_key(step) return P .. 'due:' .. step end
local function lease_key(step) return P .. 'lease:' .. step end
local function groups_key(step) return P .. 'groups:' .. step end

-- a pending delivery goes where take finds it; consumers are woken only when
-- it is the first thing they could take (a consumer that is not waiting will
-- take it anyway: it looks again as soon as it has handed out what it took)
local function schedule(id, step, list, due)
  local key, member = due_key(step), id
  if list ~= '' then
    redis.call('RPUSH', list, id)
    if redis.call('LLEN', list) > 1 then return end
    key, member = groups_key(step), list
  end
  redis.call('ZADD', key, due, member)
  if redis.call('ZRANGE', key, 0, 0)[1] == member then
    redis.call('PUBLISH', P .. 'wake', step)
  end
end

-- the head of a FIFO group is settled: the next one may be taken at its due time
local function advance(id, step, list)
  if redis.call('LINDEX', list, 0) ~= id then
    redis.call('LREM', list, 1, id)
    return
  end
  redis.call('LPOP', list)
  local head = redis.call('LINDEX', list, 0)
  if head then
    redis.call('ZADD', groups_key(step), redis.call('HGET', rkey(head), 'due') or '0', list)
  end
end
"""

PUBLISH = (
    _COMMON
    + """
-- ARGV: P, event, topic, n, then n times (step, list, due), then the entry of
-- P enqueued this event is routed from ('' when it comes from a step)
local event, topic, n = ARGV[2], ARGV[3], tonumber(ARGV[4])
local entry = ARGV[5 + 3 * n]
if entry ~= '' and redis.call('LREM', P .. 'enqueued', 1, entry) == 0 then
  return -1  -- another broker routed it first
end
if n == 0 then return 0 end
local last = redis.call('INCRBY', P .. 'seq', n)
for i = 0, n - 1 do
  local id = tostring(last - n + 1 + i)
  local step, list, due = ARGV[5 + 3 * i], ARGV[6 + 3 * i], ARGV[7 + 3 * i]
  redis.call('HSET', rkey(id), 'step', step, 'list', list, 'due', due, 'attempt', 1,
    'event', event, 'topic', topic, 'status', 'pending', 'holder', '')
  schedule(id, step, list, due)
end
return last - n + 1
"""
)

TAKE = (
    _COMMON
    + """
-- ARGV: P, step, now, limit, lease expiry, holder.
-- Returns {list of 'id attempt event' (one string each: a third of the reply's
-- elements, each one parsed by the client), next due time or nil}.
local step, now, limit, expiry, holder = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local lease = lease_key(step)
local out = {}
local leased = {}  -- (expiry, id) pairs: one ZADD for all at the end
-- a delivery's 'attempt' is the number its next delivery carries: counted here,
-- so a delivery whose taker died (its lease ran out) comes back as the next one
local function grab(id)
  local r = redis.call('HMGET', rkey(id), 'event', 'status', 'attempt')
  if not r[1] or r[2] ~= 'pending' then
    redis.call('ZREM', lease, id)
    return
  end
  local attempt = tonumber(r[3]) or 0
  redis.call('HSET', rkey(id), 'holder', holder, 'attempt', attempt + 1)
  leased[#leased + 1] = expiry
  leased[#leased + 1] = id
  out[#out + 1] = id .. ' ' .. attempt .. ' ' .. r[1]
end
local function room() return limit - #out end
-- expired leases first: their takers died, and they are the oldest
for _, id in ipairs(redis.call('ZRANGEBYSCORE', lease, '-inf', now, 'LIMIT', 0, limit)) do
  grab(id)
end
if room() > 0 then
  local due = due_key(step)
  local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, room())
  if #ids > 0 then redis.call('ZREM', due, unpack(ids)) end
  for _, id in ipairs(ids) do grab(id) end
end
if room() > 0 then
  local groups = groups_key(step)
  for _, list in ipairs(redis.call('ZRANGEBYSCORE', groups, '-inf', now, 'LIMIT', 0, room())) do
    redis.call('ZREM', groups, list)
    local id = redis.call('LINDEX', list, 0)
    while id and redis.call('EXISTS', rkey(id)) == 0 do  -- purged under it
      redis.call('LPOP', list)
      id = redis.call('LINDEX', list, 0)
    end
    if id then grab(id) end
  end
end
if #leased > 0 then redis.call('ZADD', lease, unpack(leased)) end
if #out > 0 then return {out, false} end
local soonest = false
for _, key in ipairs({lease, due_key(step), groups_key(step)}) do
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if head[2] and (not soonest or tonumber(head[2]) < tonumber(soonest)) then soonest = head[2] end
end
return {out, soonest}
"""
)

SETTLE = (
    _COMMON
    + """
-- ARGV: P, id, holder, action (ack, retry, release, dead), due, error, now,
-- attempt (what 'attempt' says from now on: the next delivery's number for a
-- retry or a release, the attempts made for a dead letter).
-- A broker whose lease ran out (another one took the delivery over) settles
-- nothing: the new holder does. Returns 1 when settled.
local id, holder, action = ARGV[2], ARGV[3], ARGV[4]
local key = rkey(id)
local r = redis.call('HMGET', key, 'step', 'list', 'holder', 'status')
if not r[1] or r[4] ~= 'pending' or r[3] ~= holder then return 0 end
local step, list = r[1], r[2]
redis.call('ZREM', lease_key(step), id)
if action == 'ack' then
  redis.call('DEL', key)
  if list == '' then return 1 end
  advance(id, step, list)
elseif action == 'dead' then
  redis.call('HSET', key, 'status', 'dead', 'error', ARGV[6], 'failed_at', ARGV[7], 'holder', '',
    'attempt', ARGV[8])
  redis.call('ZADD', P .. 'dead', ARGV[7], id)
  if list == '' then return 1 end
  advance(id, step, list)
else
  local due = ARGV[5]
  if action == 'retry' then redis.call('HSET', key, 'error', ARGV[6]) end
  redis.call('HSET', key, 'holder', '', 'due', due, 'attempt', ARGV[8])
  if list ~= '' then
    redis.call('ZADD', groups_key(step), due, list)  -- a FIFO head stays the head
  else
    redis.call('ZADD', due_key(step), due, id)
  end
end
redis.call('PUBLISH', P .. 'wake', step)
return 1
"""
)

RENEW = """
-- ARGV: P, step, lease expiry, ids the caller holds: extend those still leased
local key = ARGV[1] .. 'lease:' .. ARGV[2]
for i = 4, #ARGV do redis.call('ZADD', key, 'XX', ARGV[3], ARGV[i]) end
return 1
"""

REDRIVE = (
    _COMMON
    + """
-- ARGV: P, now, ids: dead letters become pending again from attempt 1
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', P .. 'dead', id) == 1 then
    local r = redis.call('HMGET', rkey(id), 'step', 'list')
    if r[1] then
      redis.call('HSET', rkey(id), 'status', 'pending', 'attempt', 1, 'due', ARGV[2], 'holder', '')
      schedule(id, r[1], r[2], ARGV[2])
      n = n + 1
    end
  end
end
return n
"""
)

PURGE = """
-- ARGV: P, ids: delete these dead letters
local n = 0
for i = 2, #ARGV do
  if redis.call('ZREM', ARGV[1] .. 'dead', ARGV[i]) == 1 then
    redis.call('DEL', ARGV[1] .. 'd:' .. ARGV[i])
    n = n + 1
  end
end
return n
"""


STATE_SET = """
-- KEYS: the group's hash; ARGV: P, group, key, value, now
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('ZADD', ARGV[1] .. 'stategroups', ARGV[5], ARGV[2])
return 1
"""

STATE_FORGET = """
-- KEYS: the group's hash; ARGV: P, group, key ('' clears the group).
-- Returns the old value of key. A group left empty leaves the listing.
local old = false
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
else
  old = redis.call('HGET', KEYS[1], ARGV[3])
  if old then redis.call('HDEL', KEYS[1], ARGV[3]) end
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZREM', ARGV[1] .. 'stategroups', ARGV[2]) end
return old
"""

_STREAM_COMMON = """
local P = ARGV[1]
-- a change goes to every broker's listeners through one channel, stamped here
-- so that stamps rise in the order Redis applied the changes (Motia's clients
-- drop a change whose stamp is not newer than the last they saw)
local function announce(stream, group, id, kind, data)
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  local last = tonumber(redis.call('GET', P .. 'streamclock') or '0')
  if ms <= last then ms = last + 1 end
  redis.call('SET', P .. 'streamclock', ms)
  local id_json = 'null'
  if id ~= '' then id_json = cjson.encode(id) end
  redis.call('PUBLISH', P .. 'streams', '{"stream":' .. cjson.encode(stream) .. ',"group_id":'
    .. cjson.encode(group) .. ',"id":' .. id_json .. ',"type":"' .. kind .. '","data":' .. data
    .. ',"timestamp":' .. string.format('%d', ms) .. '}')
  return {kind, string.format('%d', ms)}
end
local function items_key(stream, group) return P .. 'stream:' .. stream .. ':' .. group end
"""

STREAM_SET = (
    _STREAM_COMMON
    + """
-- ARGV: P, stream, group, id, item
local stream, group, id = ARGV[2], ARGV[3], ARGV[4]
local created = redis.call('HSET', items_key(stream, group), id, ARGV[5])
redis.call('SADD', P .. 'streamnames', stream)
redis.call('SADD', P .. 'streamgroups:' .. stream, group)
return announce(stream, group, id, created == 1 and 'create' or 'update', ARGV[5])
"""
)

STREAM_DELETE = (
    _STREAM_COMMON
    + """
-- ARGV: P, stream, group, id. Returns nil when there was nothing to remove.
local stream, group, id = ARGV[2], ARGV[3], ARGV[4]
local key = items_key(stream, group)
local old = redis.call('HGET', key, id)
if not old then return false end
redis.call('HDEL', key, id)
if redis.call('EXISTS', key) == 0 then
  redis.call('SREM', P .. 'streamgroups:' .. stream, group)
  if redis.call('EXISTS', P .. 'streamgroups:' .. stream) == 0 then
    redis.call('SREM', P .. 'streamnames', stream)
  end
end
local change = announce(stream, group, id, 'delete', old)
change[3] = old
return change
"""
)

STREAM_SEND = (
    _STREAM_COMMON
    + """
-- ARGV: P, stream, group, id ('' for the whole group), event
return announce(ARGV[2], ARGV[3], ARGV[4], 'event', ARGV[5])
"""
)


def _many(script: str) -> str:
    """``script`` run once per call for many calls in one EVALSHA (ARGV: P, the
    number of calls, then per call its argument count and its arguments without
    P): concurrent emits and acks cost one script run, not one each. A negative
    number of calls answers their count, not their results (joined calls)."""
    return (
        "local function one(ARGV)\n"
        + script
        + """
end
-- a negative count: the caller drops the results (joined calls), so the
-- reply is the count alone, not one element per call for the client to parse
local out, pos, count = {}, 3, tonumber(ARGV[2])
for c = 1, math.abs(count) do
  local n, argv = tonumber(ARGV[pos]), {ARGV[1]}
  for j = 1, n do argv[j + 1] = ARGV[pos + j] end
  pos = pos + n + 1
  local r = one(argv)
  if r == nil then r = false end
  out[c] = r
end
if count < 0 then return -count end
return out
"""
    )


PUBLISH_MANY = _many(PUBLISH)
SETTLE_MANY = _many(SETTLE)
BATCHED = ("PUBLISH", "SETTLE")
"""Scripts whose concurrent calls go to Redis as one ``NAME_MANY`` call."""

QUEUE_STATS = """
-- ARGV: P, steps: per step, the unsettled deliveries (waiting in the due set,
-- in FIFO group lists, leased) and the earliest due time among them
local P = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local step = ARGV[i]
  local n, oldest = 0, nil
  local function seen(due)
    due = tonumber(due)
    if due and (oldest == nil or due < oldest) then oldest = due end
  end
  local due = redis.call('ZRANGE', P .. 'due:' .. step, 0, 0, 'WITHSCORES')
  n = n + redis.call('ZCARD', P .. 'due:' .. step)
  seen(due[2])
  local groups = redis.call('ZRANGE', P .. 'groups:' .. step, 0, -1, 'WITHSCORES')
  for j = 1, #groups, 2 do
    n = n + redis.call('LLEN', groups[j])
    seen(groups[j + 1])
  end
  for _, id in ipairs(redis.call('ZRANGE', P .. 'lease:' .. step, 0, -1)) do
    local d = redis.call('HMGET', P .. 'd:' .. id, 'list', 'due')
    n = n + 1
    seen(d[2])
    -- the rest of a FIFO group whose head runs is in no sorted set
    if d[1] and d[1] ~= '' then n = n + redis.call('LLEN', d[1]) - 1 end
  end
  out[#out + 1] = n
  out[#out + 1] = oldest and tostring(oldest) or ''
end
return out
"""

SCRIPTS = (
    "PUBLISH",
    "QUEUE_STATS",
    "TAKE",
    "SETTLE",
    "RENEW",
    "REDRIVE",
    "PURGE",
    "STATE_SET",
    "STATE_FORGET",
    "STREAM_SET",
    "STREAM_DELETE",
    "STREAM_SEND",
    "RECORD",
    "PUBLISH_MANY",
    "SETTLE_MANY",
)
"""Every script, loaded by name when the store opens."""

RECORD = """
-- ARGV: P, max traces, max logs, n spans, n logs, then per span (id, trace, step,
-- trigger, detail, started, ended, errors 0/1, json), then per log (trace or '', json).
-- Keys: P trace:<t> hash (the summary), P tspans:<t> hash (spans by id),
-- P tsteps:<t> set, P tlogs:<t> list, P traces and P steptraces:<step> sorted sets
-- (traces by start), P logs sorted set (records by a rising id, member "id\\ttrace\\tjson").
local P, max_traces, max_logs = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local nspans, nlogs = tonumber(ARGV[4]), tonumber(ARGV[5])
-- A trace's summary is folded from its new spans first, then written once per
-- trace: a burst's hundred deliveries share one trace, and each span updating
-- the summary and re-adding the trace to the sorted sets cost ~10 commands.
local traces, order = {}, {}
for i = 0, nspans - 1 do
  local b = 6 + 9 * i
  local id, trace = ARGV[b], ARGV[b + 1]
  if redis.call('HSETNX', P .. 'tspans:' .. trace, id, ARGV[b + 8]) == 1 then
    local started, ended = tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6])
    local t = traces[trace]
    if not t then
      t = {first = b, started = started, last = b, ended = ended, spans = 0, errors = 0,
        steps = {}, seen = {}}
      traces[trace] = t
      order[#order + 1] = trace
    end
    if started < t.started then t.first, t.started = b, started end  -- the earliest names it
    if ended > t.ended then t.last, t.ended = b, ended end
    t.spans = t.spans + 1
    t.errors = t.errors + tonumber(ARGV[b + 7])
    local step = ARGV[b + 2]
    if not t.seen[step] then t.seen[step], t.steps[#t.steps + 1] = true, step end
  end
end
for _, trace in ipairs(order) do
  local t = traces[trace]
  local key = P .. 'trace:' .. trace
  local stored = redis.call('HMGET', key, 'started_at', 'ended_at')
  local first = stored[1]
  if not first or t.started < tonumber(first) then
    local b = t.first
    redis.call('HSET', key, 'started_at', ARGV[b + 5], 'step', ARGV[b + 2], 'trigger',
      ARGV[b + 3], 'detail', ARGV[b + 4])
    first = ARGV[b + 5]
  end
  if not stored[2] or t.ended > tonumber(stored[2]) then
    redis.call('HSET', key, 'ended_at', ARGV[t.last + 6])
  end
  redis.call('HINCRBY', key, 'spans', t.spans)
  redis.call('HINCRBY', key, 'errors', t.errors)
  redis.call('SADD', P .. 'tsteps:' .. trace, unpack(t.steps))
  redis.call('ZADD', P .. 'traces', first, trace)
  for _, s in ipairs(redis.call('SMEMBERS', P .. 'tsteps:' .. trace)) do
    redis.call('ZADD', P .. 'steptraces:' .. s, first, trace)
  end
end
for i = 0, nlogs - 1 do
  local b = 6 + 9 * nspans + 2 * i
  local n = redis.call('INCR', P .. 'logseq')
  local member = n .. '\\t' .. ARGV[b] .. '\\t' .. ARGV[b + 1]
  redis.call('ZADD', P .. 'logs', n, member)
  if ARGV[b] ~= '' then redis.call('RPUSH', P .. 'tlogs:' .. ARGV[b], member) end
end
-- keep the newest traces (with their spans and logs) and the newest logs
local extra = redis.call('ZCARD', P .. 'traces') - max_traces
if extra > 0 then
  for _, trace in ipairs(redis.call('ZRANGE', P .. 'traces', 0, extra - 1)) do
    for _, s in ipairs(redis.call('SMEMBERS', P .. 'tsteps:' .. trace)) do
      redis.call('ZREM', P .. 'steptraces:' .. s, trace)
    end
    for _, member in ipairs(redis.call('LRANGE', P .. 'tlogs:' .. trace, 0, -1)) do
      redis.call('ZREM', P .. 'logs', member)
    end
    redis.call('ZREM', P .. 'traces', trace)
    redis.call('DEL', P .. 'trace:' .. trace, P .. 'tspans:' .. trace, P .. 'tsteps:' .. trace,
      P .. 'tlogs:' .. trace)
  end
end
extra = redis.call('ZCARD', P .. 'logs') - max_logs
if extra > 0 then
  for _, member in ipairs(redis.call('ZRANGE', P .. 'logs', 0, extra - 1)) do
    local trace = string.match(member, '^[^\\t]*\\t([^\\t]*)\\t')
    if trace and trace ~= '' then redis.call('LREM', P .. 'tlogs:' .. trace, 1, member) end
  end
  redis.call('ZREMRANGEBYRANK', P .. 'logs', 0, extra - 1)
end
return 1
"""
