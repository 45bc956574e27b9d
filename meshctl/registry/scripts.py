"""Lua scripts that make every multi-key registry update atomic.

All of them read the Redis server's clock (``TIME``) so that hosts with skewed
clocks agree on expiry. Instances whose expiry passed are reaped (deleted and
announced as ``expired``) by whichever script next looks at their service, so
a lapsed instance is invisible at once and removed lazily.

Single-service scripts take ``KEYS = records, expiry, state, services`` and
``ARGV[1..2] = channel, service``. Timestamps cross the Lua boundary as strings
because Redis truncates Lua numbers in replies to integers.
"""

from __future__ import annotations

_PRELUDE = """
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

-- HMGET in chunks: unpack() of very long lists overflows the Lua C stack.
local function hmget(key, ids)
  local out = {}
  for i = 1, #ids, 1000 do
    local part = redis.call('HMGET', key, unpack(ids, i, math.min(i + 999, #ids)))
    for _, v in ipairs(part) do out[#out + 1] = v end
  end
  return out
end

local function reap(records, expiry, state, services, channel, service, now)
  local dead = redis.call('ZRANGEBYSCORE', expiry, '-inf', fmt(now))
  if #dead > 0 then
    redis.call('ZREMRANGEBYSCORE', expiry, '-inf', fmt(now))
    for i = 1, #dead, 1000 do
      local last = math.min(i + 999, #dead)
      redis.call('HDEL', records, unpack(dead, i, last))
      redis.call('HDEL', state, unpack(dead, i, last))
    end
    for _, id in ipairs(dead) do announce(channel, 'expired', service, id) end
  end
  if redis.call('ZCARD', expiry) == 0 then
    redis.call('SREM', services, service)
  end
end

-- Let the service's keys die some time after their longest-lived instance, so
-- a service nobody looks at again does not linger. The grace leaves readers
-- (watchers re-read every 30 s by default) time to reap and announce expiries.
local KEY_GRACE = 120
local function extend(records, expiry, state)
  local top = redis.call('ZRANGE', expiry, -1, -1, 'WITHSCORES')
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

local function live_view(records, expiry, state)
  local ids = redis.call('ZRANGE', expiry, 0, -1)
  return {ids, hmget(records, ids), hmget(state, ids)}
end
"""

# ARGV: channel, service, instance_id, record JSON, ttl, initial status -> server time
REGISTER = (
    _PRELUDE
    + """
local now = clock()
local id = ARGV[3]
redis.call('HSET', KEYS[1], id, ARGV[4])
redis.call('ZADD', KEYS[2], fmt(now + tonumber(ARGV[5])), id)
redis.call('HSET', KEYS[3], id, cjson.encode({status = ARGV[6], registered_at = fmt(now)}))
redis.call('SADD', KEYS[4], ARGV[2])
extend(KEYS[1], KEYS[2], KEYS[3])
announce(ARGV[1], 'registered', ARGV[2], id)
return fmt(now)
"""
)

# ARGV: channel, service, instance_id -> 1 if the record existed
DEREGISTER = (
    _PRELUDE
    + """
local id = ARGV[3]
local existed = redis.call('HDEL', KEYS[1], id) + redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[4], ARGV[2]) end
if existed > 0 then
  announce(ARGV[1], 'deregistered', ARGV[2], id)
  return 1
end
return 0
"""
)

# ARGV: channel, service, instance_id, ttl -> 1 if renewed, 0 if the instance is gone
HEARTBEAT = (
    _PRELUDE
    + """
local now = clock()
local id = ARGV[3]
if not is_live(KEYS[1], KEYS[2], id, now) then
  reap(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], now)
  -- a record deleted from under us leaves orphans in the other keys
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
  return 0
end
redis.call('ZADD', KEYS[2], 'XX', fmt(now + tonumber(ARGV[4])), id)
extend(KEYS[1], KEYS[2], KEYS[3])
return 1
"""
)

# ARGV: channel, service, instance_id, status, detail ('' for none) -> 1, or 0 if gone.
# The state lives apart from the heartbeat's expiry, so neither overwrites the other.
SET_HEALTH = (
    _PRELUDE
    + """
local now = clock()
local id = ARGV[3]
if not is_live(KEYS[1], KEYS[2], id, now) then return 0 end
local state = {}
local raw = redis.call('HGET', KEYS[3], id)
if raw then
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
# -> {ids, records, states, forced mark or false} of live instances
DISCOVER = (
    _PRELUDE
    + """
reap(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], clock())
local view = live_view(KEYS[1], KEYS[2], KEYS[3])
view[4] = redis.call('HGET', KEYS[5], ARGV[2])
return view
"""
)

# KEYS: services. ARGV: channel, key stem, with_records ('1' or '0')
# -> {{name, ids, records, states}, ...} or {{name}, ...}; builds the per-service
# key names as keys.service_keys does.
SNAPSHOT = (
    _PRELUDE
    + """
local now = clock()
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local base = ARGV[2] .. ':' .. name
  local records, expiry, state = base .. ':records', base .. ':expiry', base .. ':state'
  reap(records, expiry, state, KEYS[1], ARGV[1], name, now)
  if redis.call('ZCARD', expiry) > 0 then
    if ARGV[3] == '1' then
      local view = live_view(records, expiry, state)
      out[#out + 1] = {name, view[1], view[2], view[3]}
    else
      out[#out + 1] = {name}
    end
  end
end
return out
"""
)
