"""Lua scripts that make every multi-key registry update atomic.

All of them read the Redis server's clock (``TIME``) so that hosts with skewed
clocks agree on expiry. Instances whose expiry passed are reaped (deleted and
announced as ``expired``) by whichever script next looks at their service, so
a lapsed instance is invisible at once and removed lazily.

Nothing read is trusted: anything in Redis may have been written by someone
else. A key of the wrong type is skipped (the writers of a service's own keys
replace it), an expiry score that no TTL can produce (``+inf``, years ahead)
is removed like a lapsed one, and an oversized record, state or name is left
out. Each of these comes back as a problem ``{key, member, reason}`` instead
of an error, so one bad key never breaks the reading of the others.

Single-service scripts take ``KEYS = records, expiry, state, services`` and
``ARGV[1..2] = channel, service``. Timestamps cross the Lua boundary as strings
because Redis truncates Lua numbers in replies to integers.
"""

from __future__ import annotations

MAX_TTL = 86_400
"""Seconds an instance may live without a heartbeat; later expiry scores are junk."""

MAX_RECORD_BYTES = 65_536
"""Longest endpoint record or health state read back; longer ones are skipped."""

MAX_NAME_BYTES = 256
"""Longest service name or instance id read back; longer ones are skipped."""

PRELUDE = f"""
local MAX_TTL, MAX_RECORD, MAX_NAME = {MAX_TTL}, {MAX_RECORD_BYTES}, {MAX_NAME_BYTES}
"""

PRELUDE += """
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function fmt(x)
  return string.format('%.6f', x)
end

local function announce(channel, action, service, id, status)
  redis.call('PUBLISH', channel, cjson.encode(
    {action = action, service = service, instance_id = id, status = status}))
end

local function problem(problems, key, member, reason)
  problems[#problems + 1] = {key, member, reason}
end

-- True when key is absent or of type want; otherwise a problem is noted.
local function typed(key, want, problems)
  local kind = redis.call('TYPE', key)['ok']
  if kind == want or kind == 'none' then return true end
  problem(problems, key, '', 'is a ' .. kind .. ', not a ' .. want)
  return false
end

-- All three of a service's keys checked, each wrong one noted.
local function service_typed(records, expiry, state, problems)
  local a = typed(records, 'hash', problems)
  local b = typed(expiry, 'zset', problems)
  local c = typed(state, 'hash', problems)
  return a and b and c
end

-- A writer owns its service's keys: one of the wrong type is replaced.
local function repair(keys, kinds, problems)
  for i, key in ipairs(keys) do
    if not typed(key, kinds[i], problems) then redis.call('DEL', key) end
  end
end

-- HMGET in chunks: unpack() of very long lists overflows the Lua C stack.
local function hmget(key, ids)
  local out = {}
  for i = 1, #ids, 1000 do
    local part = redis.call('HMGET', key, unpack(ids, i, math.min(i + 999, #ids)))
    for _, v in ipairs(part) do out[#out + 1] = v end
  end
  return out
end

-- Remove ids from an expiry set and from the hashes keyed by them.
local function forget(expiry, hashes, ids)
  for i = 1, #ids, 1000 do
    local last = math.min(i + 999, #ids)
    redis.call('ZREM', expiry, unpack(ids, i, last))
    for _, hash in ipairs(hashes) do redis.call('HDEL', hash, unpack(ids, i, last)) end
  end
end

-- The highest expiry score a heartbeat can have written by now.
local function horizon(now)
  return fmt(now + MAX_TTL + 1)
end

-- Drop a service with no instance left from the services set (if that is a set).
local function unlist(services, service, expiry, problems)
  if redis.call('ZCARD', expiry) == 0 and typed(services, 'set', problems) then
    redis.call('SREM', services, service)
  end
end

local function reap(records, expiry, state, services, channel, service, now, problems)
  local dead = redis.call('ZRANGEBYSCORE', expiry, '-inf', fmt(now))
  local junk = redis.call('ZRANGEBYSCORE', expiry, '(' .. horizon(now), '+inf', 'WITHSCORES')
  for i = 1, #junk, 2 do
    local reason = 'expiry ' .. junk[i + 1] .. ' is no time a TTL gives; removed'
    problem(problems, expiry, junk[i], reason)
    dead[#dead + 1] = junk[i]
  end
  if #dead > 0 then
    forget(expiry, {records, state}, dead)
    for _, id in ipairs(dead) do announce(channel, 'expired', service, id) end
  end
  unlist(services, service, expiry, problems)
end

-- Let the service's keys die some time after their longest-lived instance, so
-- a service nobody looks at again does not linger. The grace leaves readers
-- (watchers re-read every 30 s by default) time to reap and announce expiries.
-- Scores past the horizon are junk (reaped by readers) and never count here.
local KEY_GRACE = 120
local function extend(records, expiry, state, now)
  local top = redis.call(
    'ZREVRANGEBYSCORE', expiry, horizon(now), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #top == 2 then
    local at = string.format('%d', math.ceil((tonumber(top[2]) + KEY_GRACE) * 1000))
    redis.call('PEXPIREAT', records, at)
    redis.call('PEXPIREAT', expiry, at)
    redis.call('PEXPIREAT', state, at)
  end
end

local function is_live(records, expiry, id, now)
  local score = redis.call('ZSCORE', expiry, id)
  return score and tonumber(score) > now and redis.call('HEXISTS', records, id) == 1
end

-- Live ids with their records and states; oversized values are left out.
local function live_view(records, expiry, state, problems)
  local ids = redis.call('ZRANGE', expiry, 0, -1)
  local recs, states = hmget(records, ids), hmget(state, ids)
  local out = {{}, {}, {}}
  for i, id in ipairs(ids) do
    local rec, st = recs[i], states[i]
    if #id > MAX_NAME then
      problem(problems, expiry, string.sub(id, 1, 64), 'instance id of ' .. #id .. ' bytes')
    elseif rec and #rec > MAX_RECORD then
      problem(problems, records, id, 'record of ' .. #rec .. ' bytes')
    else
      if st and #st > MAX_RECORD then
        problem(problems, state, id, 'health state of ' .. #st .. ' bytes')
        st = false
      end
      local n = #out[1] + 1
      out[1][n], out[2][n], out[3][n] = id, rec, st
    end
  end
  return out
end
"""

# ARGV: channel, service, instance_id, record JSON, ttl, initial status
# -> {server time, problems}: keys of the wrong type are replaced (and listed)
REGISTER = (
    PRELUDE
    + """
local problems = {}
repair(KEYS, {'hash', 'zset', 'hash', 'set'}, problems)
local now = clock()
local id = ARGV[3]
redis.call('HSET', KEYS[1], id, ARGV[4])
redis.call('ZADD', KEYS[2], fmt(now + tonumber(ARGV[5])), id)
redis.call('HSET', KEYS[3], id, cjson.encode({status = ARGV[6], registered_at = fmt(now)}))
redis.call('SADD', KEYS[4], ARGV[2])
extend(KEYS[1], KEYS[2], KEYS[3], now)
announce(ARGV[1], 'registered', ARGV[2], id)
return {fmt(now), problems}
"""
)

# ARGV: channel, service, instance_id -> 1 if the record existed
DEREGISTER = (
    PRELUDE
    + """
local problems = {}
if not service_typed(KEYS[1], KEYS[2], KEYS[3], problems) then return 0 end
local id = ARGV[3]
local existed = redis.call('HDEL', KEYS[1], id) + redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
unlist(KEYS[4], ARGV[2], KEYS[2], problems)
if existed > 0 then
  announce(ARGV[1], 'deregistered', ARGV[2], id)
  return 1
end
return 0
"""
)

# ARGV: channel, service, instance_id, ttl -> 1 if renewed, 0 if the instance is
# gone (or its keys are unusable) and must register again
HEARTBEAT = (
    PRELUDE
    + """
local problems = {}
if not service_typed(KEYS[1], KEYS[2], KEYS[3], problems) then return 0 end
local now = clock()
local id = ARGV[3]
if not is_live(KEYS[1], KEYS[2], id, now) then
  reap(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], now, problems)
  -- a record deleted from under us leaves orphans in the other keys
  forget(KEYS[2], {KEYS[1], KEYS[3]}, {id})
  return 0
end
redis.call('ZADD', KEYS[2], 'XX', fmt(now + tonumber(ARGV[4])), id)
extend(KEYS[1], KEYS[2], KEYS[3], now)
return 1
"""
)

# ARGV: channel, service, instance_id, status, detail ('' for none) -> 1, or 0 if gone.
# The state lives apart from the heartbeat's expiry, so neither overwrites the other.
SET_HEALTH = (
    PRELUDE
    + """
local now = clock()
local id = ARGV[3]
if not service_typed(KEYS[1], KEYS[2], KEYS[3], {}) or not is_live(KEYS[1], KEYS[2], id, now) then
  return 0
end
local state = {}
local raw = redis.call('HGET', KEYS[3], id)
if raw and #raw <= MAX_RECORD then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' then state = decoded end
end
local previous = state.status
state.status = ARGV[4]
state.last_check = fmt(now)
if ARGV[5] ~= '' then state.detail = ARGV[5] else state.detail = nil end
redis.call('HSET', KEYS[3], id, cjson.encode(state))
if previous ~= ARGV[4] then announce(ARGV[1], 'health', ARGV[2], id, ARGV[4]) end
return 1
"""
)

# KEYS[5]: the control plane's forced marks. ARGV: channel, service
# -> {ids, records, states, forced mark or false, problems} of live instances
DISCOVER = (
    PRELUDE
    + """
local problems = {}
local view = {{}, {}, {}}
if service_typed(KEYS[1], KEYS[2], KEYS[3], problems) then
  reap(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], clock(), problems)
  view = live_view(KEYS[1], KEYS[2], KEYS[3], problems)
end
view[4] = typed(KEYS[5], 'hash', problems) and redis.call('HGET', KEYS[5], ARGV[2])
view[5] = problems
return view
"""
)

# KEYS: services. ARGV: channel, key stem, with_records ('1' or '0')
# -> {{{name, ids, records, states}, ...} or {{name}, ...}, problems}; builds the
# per-service key names as keys.service_keys does. A service whose keys are
# unusable is left out, the others are read as usual.
SNAPSHOT = (
    PRELUDE
    + """
local now = clock()
local out, problems = {}, {}
local names = {}
if typed(KEYS[1], 'set', problems) then names = redis.call('SMEMBERS', KEYS[1]) end
for _, name in ipairs(names) do
  local base = ARGV[2] .. ':' .. name
  local records, expiry, state = base .. ':records', base .. ':expiry', base .. ':state'
  if #name > MAX_NAME then
    problem(problems, KEYS[1], string.sub(name, 1, 64), 'service name of ' .. #name .. ' bytes')
  elseif service_typed(records, expiry, state, problems) then
    reap(records, expiry, state, KEYS[1], ARGV[1], name, now, problems)
    if redis.call('ZCARD', expiry) > 0 then
      if ARGV[3] == '1' then
        local view = live_view(records, expiry, state, problems)
        out[#out + 1] = {name, view[1], view[2], view[3]}
      else
        out[#out + 1] = {name}
      end
    end
  end
end
return {out, problems}
"""
)
