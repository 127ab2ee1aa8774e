-- Fleet-wide politeness for one host (origin): lanes, leases, pauses and the
-- queue of waiting tasks. The semantics are those of memory::MemoryHosts
-- (local mode); see core/src/politeness.rs for the model.
--
-- Keys, derived from ARGV[1] (the key prefix P) and the origin:
--   P:host:O             hash: next (earliest new start), tail (earliest start
--                        of a new reservation), pause, strikes, crawl_delay
--   P:host:O:leases      zset: lease -> expiry (ms)
--   P:host:O:queue       list: waiting tasks (entries "C|D|R|task")
--   P:host:O:dispatched  hash: lease -> the entry it reserves a lane for
--   P:host:O:members     set: ids of the tasks held in queue or dispatched
--                        (one copy each, whatever the broker delivers again)
--   P:hosts:wake         zset: origin -> when a sweep should look at it
--   P:hosts:seq          counter for dispatched leases
--   P:crawl:ID:robots    hash: origin -> robots.txt record; '~' .. origin ->
--                        the lease of the request fetching it
--
-- ARGV[2] is the operation; its arguments follow. Times are Redis's clock,
-- so every worker of a fleet agrees on them.

local P = ARGV[1]
local op = ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local LEASE = tonumber(ARGV[3])
local HORIZON = tonumber(ARGV[4])
local DISPATCH_MAX = tonumber(ARGV[5])
local MARGIN_MAX = 50
-- A host's pacing hash outlives its last request by a day, then goes (its
-- lists and sets empty themselves).
local IDLE_MS = 86400000
local WAKE = P .. ':hosts:wake'

local function keys(origin)
  local h = P .. ':host:' .. origin
  return h, h .. ':leases', h .. ':queue', h .. ':dispatched'
end

local function members_of(origin)
  return P .. ':host:' .. origin .. ':members'
end

-- The task id of an entry "C|D|R|ID|task".
local function id_of(entry)
  return string.match(entry, '^%d+|%d+|%d|([^|]*)|') or ''
end

local function num(value)
  return tonumber(value or '0') or 0
end

local function header(entry)
  local c, d, r = string.match(entry, '^(%d+)|(%d+)|(%d)|[^|]*|')
  return tonumber(c or '0'), tonumber(d or '0'), r == '1'
end

-- The gap between two starts: the crawl's delay (or the host's Crawl-delay,
-- if larger), plus a margin for the time from a grant to the request's
-- arrival at the host (politeness::delay_margin).
local function delay_of(H, d, robots)
  if robots then
    local cd = num(redis.call('HGET', H, 'crawl_delay'))
    if cd > d then d = cd end
  end
  return d + math.min(math.floor(d / 5), MARGIN_MAX)
end

local function lanes_free(L, c)
  return c == 0 or redis.call('ZCARD', L) < c
end

-- Expired leases give their lanes back; the task a dispatched lease held goes
-- back to the front of the queue (earliest expiry first).
local function purge(L, Q, D)
  local expired = redis.call('ZRANGEBYSCORE', L, '-inf', now)
  for i = #expired, 1, -1 do
    local lease = expired[i]
    redis.call('ZREM', L, lease)
    local entry = redis.call('HGET', D, lease)
    if entry then
      redis.call('HDEL', D, lease)
      redis.call('LPUSH', Q, entry)
    end
  end
end

-- Hands queued tasks lanes in order, each a lease reserved from its start on;
-- appends origin, lease, wait (ms) and entry of each to out.
local function dispatch(origin, out)
  local H, L, Q, D = keys(origin)
  local wake = nil
  while true do
    local entry = redis.call('LINDEX', Q, 0)
    if not entry then break end
    local c, d, r = header(entry)
    if not lanes_free(L, c) then
      local first = redis.call('ZRANGE', L, 0, 0, 'WITHSCORES')
      wake = tonumber(first[2] or now)
      break
    end
    local at = math.max(now, num(redis.call('HGET', H, 'next')),
      num(redis.call('HGET', H, 'tail')), num(redis.call('HGET', H, 'pause')))
    if at > now + HORIZON or #out / 4 >= DISPATCH_MAX then
      wake = math.max(now, at - HORIZON)
      break
    end
    redis.call('LPOP', Q)
    local lease = 'd' .. redis.call('INCR', P .. ':hosts:seq')
    redis.call('ZADD', L, at + LEASE, lease)
    redis.call('HSET', D, lease, entry)
    redis.call('HSET', H, 'tail', at + delay_of(H, d, r))
    table.insert(out, origin)
    table.insert(out, lease)
    table.insert(out, at - now)
    table.insert(out, entry)
  end
  if wake and redis.call('LLEN', Q) > 0 then
    redis.call('ZADD', WAKE, wake, origin)
  elseif redis.call('HLEN', D) > 0 then
    -- Tasks held under leases: look again when the first lease may expire.
    local first = redis.call('ZRANGE', L, 0, 0, 'WITHSCORES')
    redis.call('ZADD', WAKE, tonumber(first[2] or now), origin)
  else
    redis.call('ZREM', WAKE, origin)
  end
end

-- A task is held under a lease until `expiry`: a sweep looks then at the latest.
local function watch(origin, expiry)
  redis.call('ZADD', WAKE, 'LT', expiry, origin)
end

-- Gives expired leases' lanes back and hands the freed lanes out; appends
-- what it hands out to out.
local function settle(origin, out)
  local _, L, Q, D = keys(origin)
  purge(L, Q, D)
  dispatch(origin, out)
end

-- Queues a task behind the host (at the front when it had a lane reserved);
-- a sweep looks at the host soon in case no release is coming.
local function park(origin, entry, front)
  local _, _, Q, _ = keys(origin)
  if not front and redis.call('SADD', members_of(origin), id_of(entry)) == 0 then
    return {'parked'}
  end
  if front then redis.call('LPUSH', Q, entry) else redis.call('RPUSH', Q, entry) end
  redis.call('ZADD', WAKE, 'LT', now, origin)
  return {'parked'}
end

-- Applies how a request ended to the host's pace: a row of 429s ends, or the
-- host pauses (for a Retry-After, or exponentially longer per 429 in a row).
local function pace_host(H, pace, wait, base, cap)
  local pause_until = 0
  if pace == 'normal' then
    redis.call('HDEL', H, 'strikes')
  elseif pace == 'pause' then
    pause_until = now + wait
  elseif pace == 'backoff' then
    local strikes = redis.call('HINCRBY', H, 'strikes', 1)
    local exponent = math.min(strikes - 1, 16)
    pause_until = now + math.min(base * (2 ^ exponent), cap)
  end
  if pause_until > num(redis.call('HGET', H, 'pause')) then
    redis.call('HSET', H, 'pause', pause_until)
  end
end

if op == 'acquire' then
  local origin, lease, reserved = ARGV[6], ARGV[7], ARGV[8]
  local c, d = tonumber(ARGV[9]), tonumber(ARGV[10])
  local robots = ARGV[11] == '1'
  local R, entry, durable = ARGV[12], ARGV[13], ARGV[14] == '1'
  local H, L, Q, D = keys(origin)
  purge(L, Q, D)
  local is_reserved = reserved ~= ''
  if is_reserved then
    if redis.call('ZREM', L, reserved) == 0 then return {'gone'} end
    redis.call('HDEL', D, reserved)
  elseif redis.call('SISMEMBER', members_of(origin), id_of(entry)) == 1 then
    -- A copy of a task the store holds (its message came again): the held one runs.
    return {'parked'}
  end
  local fetch_robots = false
  if robots then
    local record = redis.call('HGET', R, origin)
    local known = record ~= false
    if known and string.sub(record, 1, 6) == 'retry ' then
      known = num(string.match(record, '^retry (%d+)')) > now
    end
    if not known then
      local holder = redis.call('HGET', R, '~' .. origin)
      if holder and redis.call('ZSCORE', L, holder) then
        return park(origin, entry, is_reserved)
      end
      fetch_robots = true
    end
  end
  local gate = math.max(num(redis.call('HGET', H, 'next')), num(redis.call('HGET', H, 'pause')))
  local at = math.max(now, gate)
  if not is_reserved then at = math.max(at, num(redis.call('HGET', H, 'tail'))) end
  local blocked
  if is_reserved then
    blocked = at > now + HORIZON
  else
    blocked = redis.call('LLEN', Q) > 0 or not lanes_free(L, c) or at > now + HORIZON
  end
  if blocked then return park(origin, entry, is_reserved) end
  local delay = delay_of(H, d, robots)
  if at > now then
    redis.call('ZADD', L, at + LEASE, lease)
    redis.call('HSET', D, lease, entry)
    redis.call('SADD', members_of(origin), id_of(entry))
    watch(origin, at + LEASE)
    redis.call('HSET', H, 'tail', math.max(num(redis.call('HGET', H, 'tail')), at + delay))
    return {'later', at - now}
  end
  redis.call('ZADD', L, now + LEASE, lease)
  if durable then
    redis.call('HSET', D, lease, entry)
    redis.call('SADD', members_of(origin), id_of(entry))
    watch(origin, now + LEASE)
  end
  redis.call('HSET', H, 'next', now + delay)
  redis.call('HSET', H, 'tail', math.max(num(redis.call('HGET', H, 'tail')), now + delay))
  redis.call('PEXPIRE', H, IDLE_MS)
  if fetch_robots then redis.call('HSET', R, '~' .. origin, lease) end
  return {'go', fetch_robots and 1 or 0}
end

if op == 'release' then
  local origin, lease, pace, wait = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
  local H, L, _, D = keys(origin)
  redis.call('ZREM', L, lease)
  local held = redis.call('HGET', D, lease)
  if held then
    redis.call('HDEL', D, lease)
    redis.call('SREM', members_of(origin), id_of(held))
  end
  pace_host(H, pace, wait, tonumber(ARGV[10]), tonumber(ARGV[11]))
  redis.call('PEXPIRE', H, IDLE_MS)
  local out = {}
  settle(origin, out)
  return out
end

if op == 'sweep' then
  local due = redis.call('ZRANGEBYSCORE', WAKE, '-inf', now, 'LIMIT', 0, 64)
  local out = {}
  for _, origin in ipairs(due) do
    settle(origin, out)
  end
  return out
end

if op == 'renew' then
  for i = 6, #ARGV, 2 do
    local _, L, _, _ = keys(ARGV[i])
    redis.call('ZADD', L, 'XX', 'GT', now + LEASE, ARGV[i + 1])
  end
  return 0
end

if op == 'put_robots' then
  local origin, R, record, crawl_delay = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
  local H = keys(origin)
  redis.call('HSET', R, origin, record)
  redis.call('HDEL', R, '~' .. origin)
  if crawl_delay > num(redis.call('HGET', H, 'crawl_delay')) then
    redis.call('HSET', H, 'crawl_delay', crawl_delay)
  end
  pace_host(H, ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]))
  -- The tasks that waited for this record may go now.
  local out = {}
  settle(origin, out)
  return out
end

if op == 'views' then
  local out = {}
  for i = 6, #ARGV do
    local H, L, Q, _ = keys(ARGV[i])
    table.insert(out, redis.call('ZCOUNT', L, now, '+inf'))
    table.insert(out, redis.call('LLEN', Q))
    table.insert(out, math.max(0, num(redis.call('HGET', H, 'pause')) - now))
  end
  return out
end

return redis.error_reply('unknown host operation ' .. tostring(op))
