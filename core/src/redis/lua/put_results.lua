-- Stores results, each under its task id. KEYS: 1 meta, 2 results.
-- ARGV: task id, result JSON, task id, result JSON, ...
-- Returns 0 when the crawl is unknown (deleted), else 1.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return 1
