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
- ``P wake`` channel: a step name whenever something of its queue became due.
"""

from __future__ import annotations

_COMMON = """
local P = ARGV[1]
local function rkey(id) return P .. 'd:' .. id end
local function due_key(step) return P .. 'due:' .. step end
local function lease_key(step) return P .. 'lease:' .. step end
local function groups_key(step) return P .. 'groups:' .. step end

-- a pending delivery goes where take finds it
local function schedule(id, step, list, due)
  if list ~= '' then
    redis.call('RPUSH', list, id)
    if redis.call('LLEN', list) == 1 then redis.call('ZADD', groups_key(step), due, list) end
  else
    redis.call('ZADD', due_key(step), due, id)
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
  redis.call('PUBLISH', P .. 'wake', step)
end
return last - n + 1
"""
)

TAKE = (
    _COMMON
    + """
-- ARGV: P, step, now, limit, lease expiry, holder.
-- Returns {flat list of (id, attempt, event), next due time or nil}.
local step, now, limit, expiry, holder = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local lease = lease_key(step)
local out = {}
local function grab(id)
  local r = redis.call('HMGET', rkey(id), 'attempt', 'event', 'status')
  if not r[2] or r[3] ~= 'pending' then
    redis.call('ZREM', lease, id)
    return
  end
  redis.call('ZADD', lease, expiry, id)
  redis.call('HSET', rkey(id), 'holder', holder)
  out[#out + 1] = id
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
end
local function room() return limit - #out / 3 end
-- expired leases first: their takers died, and they are the oldest
for _, id in ipairs(redis.call('ZRANGEBYSCORE', lease, '-inf', now, 'LIMIT', 0, limit)) do
  grab(id)
end
if room() > 0 then
  local due = due_key(step)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, room())) do
    redis.call('ZREM', due, id)
    grab(id)
  end
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
-- ARGV: P, id, holder, action (ack, retry, release, dead), due, error, now.
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
  redis.call('HSET', key, 'status', 'dead', 'error', ARGV[6], 'failed_at', ARGV[7], 'holder', '')
  redis.call('ZADD', P .. 'dead', ARGV[7], id)
  if list == '' then return 1 end
  advance(id, step, list)
else
  local due = ARGV[5]
  if action == 'retry' then
    redis.call('HINCRBY', key, 'attempt', 1)
    redis.call('HSET', key, 'error', ARGV[6])
  end
  redis.call('HSET', key, 'holder', '', 'due', due)
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
      redis.call('PUBLISH', P .. 'wake', r[1])
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

STATE_DELETE = """
-- KEYS: the group's hash; ARGV: P, key. Returns the old value.
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old then redis.call('HDEL', KEYS[1], ARGV[2]) end
return old
"""
