-- Records that a task's children were published. KEYS: 1 meta, 2 expanded set.
-- ARGV: 1 task id. Nothing happens for an unknown (deleted) crawl.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[1])
end
return 1
