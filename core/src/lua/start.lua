-- Marks tasks started (in flight), once each, and says what is left of each.
-- KEYS: 1 meta, 2 state (task id -> s|d|f), 3 results (task id -> JSON).
-- ARGV: the task ids.
-- Returns {0, {}} when the crawl is unknown (deleted), else {1, per task:
-- 0 (fetch it), 1 (already applied) or its stored result JSON (not applied yet)}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, {}}
end
local what = {}
local started = 0
for i, tid in ipairs(ARGV) do
  local state = redis.call('HGET', KEYS[2], tid)
  if state == 'd' or state == 'f' then
    what[i] = 1
  else
    if not state then
      redis.call('HSET', KEYS[2], tid, 's')
      started = started + 1
    end
    what[i] = redis.call('HGET', KEYS[3], tid) or 0
  end
end
if started > 0 then
  redis.call('HINCRBY', KEYS[1], 'started', started)
end
return {1, what}
