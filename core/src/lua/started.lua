-- Marks a task started (in flight), once. KEYS: 1 meta, 2 state. ARGV: 1 task id.
-- Returns 0 when the crawl is unknown (deleted), else 1.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if redis.call('HSETNX', KEYS[2], ARGV[1], 's') == 1 then
  redis.call('HINCRBY', KEYS[1], 'started', 1)
end
return 1
