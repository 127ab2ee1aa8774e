-- Claims the page that a task's redirects led to, so that a page reached by
-- several URLs counts once: the page's own task keeps it when the crawl has
-- one (claimed as a seed or a link), otherwise the first task to land on it.
--
-- KEYS: 1 meta hash, 2 tasks hash, 3 finals hash.
-- ARGV: 1 the final URL's task id, 2 the landing task's id.
-- Returns the id of the task that keeps the page, or false for an unknown crawl.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return ARGV[1]
end
redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[3], ARGV[1])
