-- Start a run from its trigger, all or nothing: remember the delivery, record the run,
-- log the trigger event and queue it for the stages that consume it. Run by Intake
-- (intake.py); when the delivery was seen before, nothing is written and the run it
-- started is returned.
--
-- KEYS[1]  the delivery's marker, or '' when the trigger has no delivery id
-- KEYS[2]  the run's hash            KEYS[3]  the index of runs (sorted set)
-- KEYS[4]  the event's logged marker KEYS[5]  the global event stream
-- KEYS[6]  the run's event stream    KEYS[7..] one queue per consuming stage
-- ARGV[1]  run id    ARGV[2] created at    ARGV[3] delivery marker ttl
-- ARGV[4]  logged marker ttl    ARGV[5] global stream's approximate max length
-- ARGV[6]  the event (JSON)     ARGV[7] the run hash's fields (a JSON object of strings)
-- ARGV[8 ..]  one task message per queue, in KEYS' order

if KEYS[1] ~= '' then
  local first = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'GET', 'EX', ARGV[3])
  if first then
    return first
  end
end

local fields = {}
for field, value in pairs(cjson.decode(ARGV[7])) do
  fields[#fields + 1] = field
  fields[#fields + 1] = value
end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])

redis.call('SET', KEYS[4], 1, 'EX', ARGV[4])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'event', ARGV[6])
redis.call('XADD', KEYS[6], '*', 'event', ARGV[6])

local message = 8
for queue = 7, #KEYS do
  redis.call('LPUSH', KEYS[queue], ARGV[message])
  message = message + 1
end
return false
