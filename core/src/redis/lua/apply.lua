-- Applies one task's completion to its crawl, atomically and once per task id.
-- Also claims a crawl's seeds, when ARGV[1] (the task id) is empty.
--
-- KEYS: 1 meta hash, 2 tasks hash (task id -> "parent|depth|url"), 3 state hash
--       (task id -> s|d|f), 4 tally hash (tag -> pages), 5 expanded set (task ids
--       whose children were published), 6 finals hash (task ids of pages that
--       another task reached by redirect and keeps: never claimed as links),
--       7 results hash, 8 robots hash (only to expire them).
-- ARGV: 1 task id or '', 2 outcome code 'd' or 'f', 3 now in ms,
--       4 number of tags, then the tags,
--       then the number of children, then per child: task id, claim record.
-- Returns {known, fresh, finished, {0-based indices of children to publish}}.
-- When the crawl finishes and its meta holds a ttl_s above 0, every one of
-- its keys expires that many seconds later.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, 0, 0, {}}
end
local tid = ARGV[1]
if tid ~= '' and redis.call('HEXISTS', KEYS[2], tid) == 0 then
  -- A completion for a task this crawl never claimed: forged or stale; ignore it.
  return {1, 0, 0, {}}
end
local i = 4
local ntags = tonumber(ARGV[i])
i = i + 1

local fresh = 0
if tid ~= '' then
  local prev = redis.call('HGET', KEYS[3], tid)
  if prev ~= 'd' and prev ~= 'f' then
    fresh = 1
    redis.call('HSET', KEYS[3], tid, ARGV[2])
    if not prev then
      -- Applied without a start mark (a worker that skipped it): keep queued/in-flight sane.
      redis.call('HINCRBY', KEYS[1], 'started', 1)
    elseif string.sub(prev, 1, 1) == 'r' then
      redis.call('HINCRBY', KEYS[1], 'retrying', -1)
    end
    redis.call('HINCRBY', KEYS[1], ARGV[2] == 'd' and 'done' or 'failed', 1)
    for j = 0, ntags - 1 do
      redis.call('HINCRBY', KEYS[4], ARGV[i + j], 1)
    end
  end
end
i = i + ntags

local nchildren = tonumber(ARGV[i])
i = i + 1
local max_pages = tonumber(redis.call('HGET', KEYS[1], 'max_pages') or '0')
local created = tonumber(redis.call('HGET', KEYS[1], 'created') or '0')
local publish = {}
for j = 0, nchildren - 1 do
  local ctid = ARGV[i + 2 * j]
  local record = ARGV[i + 2 * j + 1]
  local existing = redis.call('HGET', KEYS[2], ctid)
  if not existing and redis.call('HEXISTS', KEYS[6], ctid) == 1 then
    -- Already in the crawl as the page a redirect led to.
  elseif not existing then
    if max_pages == 0 or created < max_pages then
      redis.call('HSET', KEYS[2], ctid, record)
      created = created + 1
      publish[#publish + 1] = j
    end
  elseif fresh == 0 and tid ~= '' and string.sub(existing, 1, 36) == tid
      and redis.call('SISMEMBER', KEYS[5], tid) == 0 then
    -- A completion seen before whose children were never confirmed published
    -- (the aggregator died in between): publish the unfinished ones again.
    local st = redis.call('HGET', KEYS[3], ctid)
    if st ~= 'd' and st ~= 'f' then
      publish[#publish + 1] = j
    end
  end
end
redis.call('HSET', KEYS[1], 'created', created)

local finished = 0
local ended = tonumber(redis.call('HGET', KEYS[1], 'done') or '0')
  + tonumber(redis.call('HGET', KEYS[1], 'failed') or '0')
if ended >= created and not redis.call('HGET', KEYS[1], 'finished_ms') then
  redis.call('HSET', KEYS[1], 'finished_ms', ARGV[3])
  finished = 1
  local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl_s') or '0') or 0
  if ttl > 0 then
    for k = 1, 8 do
      redis.call('EXPIRE', KEYS[k], ttl)
    end
  end
end
return {1, fresh, finished, publish}
