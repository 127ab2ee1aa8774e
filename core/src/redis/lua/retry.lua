-- Marks a started task as waiting for its next try, unless it has ended.
-- KEYS: 1 meta, 2 state (task id -> s|d|f|r ATTEMPT NEXT_MS).
-- ARGV: 1 task id, 2 its code, 'r ATTEMPT NEXT_MS'.
-- The meta's 'retrying' counts tasks in the r state: start.lua and apply.lua
-- take them out. Returns 1 when marked, 0 otherwise.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local prev = redis.call('HGET', KEYS[2], ARGV[1])
if prev == 'd' or prev == 'f' then
  return 0
end
if not prev then
  redis.call('HINCRBY', KEYS[1], 'started', 1)
end
if not prev or string.sub(prev, 1, 1) ~= 'r' then
  redis.call('HINCRBY', KEYS[1], 'retrying', 1)
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
