-- Stores a task's result under its task id. KEYS: 1 meta, 2 results.
-- ARGV: 1 task id, 2 result JSON. Returns 0 when the crawl is unknown, else 1.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
