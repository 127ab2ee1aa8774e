-- Records that tasks' children were published. KEYS: 1 meta, 2 expanded set.
-- ARGV: the task ids. Nothing happens for an unknown (deleted) crawl.
if redis.call('EXISTS', KEYS[1]) == 1 then
  for _, tid in ipairs(ARGV) do
    redis.call('SADD', KEYS[2], tid)
  end
end
return 1
