-- Marks tasks started (in flight), once each, and says what is left of each.
-- A task waiting for its next try (r ...) is started again and leaves the
-- meta's 'retrying' count.
-- KEYS: 1 meta, 2 state (task id -> s|d|f|r ...), 3 results (task id -> JSON),
--       4 tasks (the crawl's claims).
-- ARGV: the task ids.
-- Returns {0, {}} when the crawl is unknown (deleted), else {1, per task:
-- 0 (fetch it), 1 (already applied), 2 (never claimed by the crawl: forged or
-- stale, dropped and counted) or its stored result JSON (not applied yet)}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, {}}
end
local what = {}
local started = 0
local unclaimed = 0
local retried = 0
for i, tid in ipairs(ARGV) do
  local state = redis.call('HGET', KEYS[2], tid)
  if redis.call('HEXISTS', KEYS[4], tid) == 0 then
    what[i] = 2
    unclaimed = unclaimed + 1
  elseif state == 'd' or state == 'f' then
    what[i] = 1
  else
    if not state then
      redis.call('HSET', KEYS[2], tid, 's')
      started = started + 1
    elseif string.sub(state, 1, 1) == 'r' then
      redis.call('HSET', KEYS[2], tid, 's')
      retried = retried + 1
    end
    what[i] = redis.call('HGET', KEYS[3], tid) or 0
  end
end
if started > 0 then
  redis.call('HINCRBY', KEYS[1], 'started', started)
end
if retried > 0 then
  redis.call('HINCRBY', KEYS[1], 'retrying', -retried)
end
if unclaimed > 0 then
  redis.call('HINCRBY', KEYS[1], 'unclaimed', unclaimed)
end
return {1, what}
