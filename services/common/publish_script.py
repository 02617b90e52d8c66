"""One publish, one round trip: the writes of an event, run by one Redis script.

Bus.publish collects what the event changes, in order: the run store's projection
(run_projection.py, including recreating a run lost with Redis's data), the event log's
append (eventlog.py) and one task message per consuming stage's queue. `commit` sends them
as one EVALSHA: one round trip, and atomic (a script runs alone), so a run is never seen
half-projected and an event is queued only if its projection and log entry were written.

A script rather than MULTI/EXEC because some writes depend on what Redis holds at that
moment: a run is recreated only when its hash is gone, the log appends only the first time
it sees an event id, and a run's completion (or a release's readiness) is claimed only by
the event that ended its last service. A transaction cannot branch on a read; WATCH would
add round trips and retries.

Every key is declared (KEYS) and each write names its keys by position there. Values travel
as strings (JSON, UTF-8 as is), floats as redis-py writes them (repr), so the stored bytes
are the ones the projection's HSETs wrote before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from services.common.redis_types import RedisClient, Value

SCRIPT = """
local function claim(key, field, claimant)
  if redis.call('HSETNX', key, field, claimant) == 1 then
    return 1
  end
  if redis.call('HGET', key, field) == claimant then
    return 1
  end
  return 0
end

local function pairs_from(op, first)
  local values = {}
  for i = first, #op do
    values[#values + 1] = op[i]
  end
  return values
end

local results = {}
for position, op in ipairs(cjson.decode(ARGV[1])) do
  local kind, result = op[1], 1
  if kind == 'call' then
    redis.call(op[2], KEYS[op[3]], unpack(pairs_from(op, 4)))
  elseif kind == 'call_if' then
    -- {'call_if', when, command, key, value, ...}: only when the write at `when` answered 1
    result = 0
    if results[op[2]] == 1 then
      redis.call(op[3], KEYS[op[4]], unpack(pairs_from(op, 5)))
      result = 1
    end
  elseif kind == 'recover' then
    -- {'recover', run, index, run id, created at, field, value, ...}
    result = 0
    if redis.call('EXISTS', KEYS[op[2]]) == 0 then
      for i = 6, #op, 2 do
        redis.call('HSETNX', KEYS[op[2]], op[i], op[i + 1])
      end
      redis.call('ZADD', KEYS[op[3]], op[5], op[4])
      result = 1
    end
  elseif kind == 'log' then
    -- {'log', marker, events, run's events, marker ttl, events' max length, event}
    result = 0
    if redis.call('SET', KEYS[op[2]], 1, 'NX', 'EX', op[5]) then
      redis.call('XADD', KEYS[op[3]], 'MAXLEN', '~', op[6], '*', 'event', op[7])
      redis.call('XADD', KEYS[op[4]], '*', 'event', op[7])
      result = 1
    end
  elseif kind == 'claim' then
    -- {'claim', key, field, claimant}
    result = claim(KEYS[op[2]], op[3], op[4])
  elseif kind == 'finish' then
    -- {'finish', finished, services, run, service, claimant}: the run's completion
    redis.call('SADD', KEYS[op[2]], op[5])
    local finished = redis.call('SCARD', KEYS[op[2]])
    local expected = redis.call('HGET', KEYS[op[4]], 'expected')
    if not expected and redis.call('HGET', KEYS[op[4]], 'recovered_at') then
      expected = redis.call('SCARD', KEYS[op[3]])  -- its fan-out went with the data
    end
    result = 0
    if expected and finished >= tonumber(expected) then
      result = claim(KEYS[op[4]], 'completing', op[6])
    end
  elseif kind == 'release' then
    -- {'release', run, scanned, service, claimant, finish op (0: none)}: skipped when
    -- that finish completed the run
    result = 0
    if op[6] == 0 or results[op[6]] == 0 then
      local version = redis.call('HGET', KEYS[op[2]], 'release')
      redis.call('SADD', KEYS[op[3]], op[4])
      local scanned = redis.call('SCARD', KEYS[op[3]])
      local expected = redis.call('HGET', KEYS[op[2]], 'expected')
      if version and expected and scanned >= tonumber(expected) then
        result = claim(KEYS[op[2]], 'release_ready', op[5])
      end
    end
  elseif kind == 'index' or kind == 'status' then
    -- {'index', when, run, run id, set, ...}: the run in each set, scored by its created_at;
    -- {'status', when, run, run id, settled, sequence, status, its set, ...}: in the set of
    -- the status its hash holds and in no other, and in settled (scored by the next number
    -- of `sequence` when it joins) while that is neither queued nor running. Only when the
    -- write at position `when` (0: none) answered 1, and the run has a hash.
    result = 0
    local at, status = unpack(redis.call('HMGET', KEYS[op[3]], 'created_at', 'status'))
    if at and (op[2] == 0 or results[op[2]] == 1) then
      if kind == 'index' then
        for i = 5, #op do
          redis.call('ZADD', KEYS[op[i]], at, op[4])
        end
      else
        for i = 7, #op, 2 do
          if op[i] == status then
            redis.call('ZADD', KEYS[op[i + 1]], at, op[4])
          else
            redis.call('ZREM', KEYS[op[i + 1]], op[4])
          end
        end
        if status == 'queued' or status == 'running' then
          redis.call('ZREM', KEYS[op[5]], op[4])
        elseif status and not redis.call('ZSCORE', KEYS[op[5]], op[4]) then
          redis.call('ZADD', KEYS[op[5]], redis.call('INCR', KEYS[op[6]]), op[4])
        end
      end
      result = 1
    end
  else
    return redis.error_reply('unknown write ' .. tostring(kind))
  end
  results[position] = result
end
return results
"""

Op = list[str | int]


def text(value: Value) -> str:
    """`value` as redis-py would store it."""
    if isinstance(value, bool):
        raise TypeError("Redis stores no booleans: pass an int")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else str(value)


class Writes:
    """The writes of one publish, in the order they run. Each method returns the write's
    position, by which `commit`'s answer tells its outcome (1: done or claimed, 0: not)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._positions: dict[str, int] = {}
        self.ops: list[Op] = []
        # The position of the write answering 1 only at the event's first publish (the event
        # log's append; 0: none, every write runs): what a redelivered event would write
        # over a later state is written only then.
        self.first_publish = 0

    def _key(self, name: str) -> int:
        if name not in self._positions:
            self.keys.append(name)
            self._positions[name] = len(self.keys)  # Lua counts from 1
        return self._positions[name]

    def _add(self, op: Op) -> int:
        self.ops.append(op)
        return len(self.ops)

    def call(self, command: str, key: str, *args: Value, when: int = 0) -> int:
        """A write of one key (HSET, HSETNX, SADD, ZADD, LPUSH): always, or only when the
        write at position `when` answered 1."""
        values = [text(a) for a in args]
        if when:
            return self._add(["call_if", when, command, self._key(key), *values])
        return self._add(["call", command, self._key(key), *values])

    def hset(self, key: str, mapping: Mapping[str, Value], when: int = 0) -> int:
        pairs = (item for pair in mapping.items() for item in pair)
        return self.call("HSET", key, *pairs, when=when)

    def recover(self, run: str, index: str, run_id: str, record: Mapping[str, str | float]) -> int:
        """Recreate the run's hash from `record` (field by field, HSETNX) and index it, only
        when the hash is gone."""
        fields = [text(item) for pair in record.items() for item in pair]
        created_at = text(record["created_at"])
        return self._add(["recover", self._key(run), self._key(index), run_id, created_at, *fields])

    def log(
        self, marker: str, ttl: int, events: str, run_events: str, maxlen: int, body: str
    ) -> int:
        """Append `body` to both streams unless `marker` (the event id's) is already set."""
        keys = (self._key(marker), self._key(events), self._key(run_events))
        return self._add(["log", *keys, str(ttl), str(maxlen), body])

    def claim(self, key: str, field: str, claimant: str) -> int:
        """`claimant` holds `field` of `key`: it was free or already held by it."""
        return self._add(["claim", self._key(key), field, claimant])

    def finish(self, finished: str, services: str, run: str, service: str, claimant: str) -> int:
        """`service` has ended; claims the run's completion when it was the last one."""
        keys = (self._key(finished), self._key(services), self._key(run))
        return self._add(["finish", *keys, service, claimant])

    def release(
        self, run: str, scanned: str, service: str, claimant: str, unless_completed: int
    ) -> int:
        """`service`'s scan outcome counted towards its release; claims the release's
        readiness when it was the last one. Not counted when the finish write at position
        `unless_completed` completed the run (0: no such write)."""
        keys = (self._key(run), self._key(scanned))
        return self._add(["release", *keys, service, claimant, unless_completed])

    def index(self, run: str, run_id: str, sets: Sequence[str], when: int = 0) -> int:
        """Add the run to each of `sets`, scored by its created_at (run_index.py)."""
        keys = [self._key(key) for key in (run, *sets)]
        return self._add(["index", when, keys[0], run_id, *keys[1:]])

    def status(
        self,
        run: str,
        run_id: str,
        by_status: Mapping[str, str],
        settled: tuple[str, str],
        when: int = 0,
    ) -> int:
        """Move the run into the set of the status its hash holds (`by_status`: status →
        set), out of the others; once it is neither queued nor running, into `settled`'s
        sorted set, scored by the next number of its counter."""
        keys = [self._key(run), self._key(settled[0]), self._key(settled[1])]
        sets = [item for name, key in by_status.items() for item in (name, self._key(key))]
        return self._add(["status", when, keys[0], run_id, keys[1], keys[2], *sets])

    def commit(self, client: RedisClient) -> list[int]:
        """Run every write in one script call; the outcome of each, by position - 1."""
        if not self.ops:
            return []
        script = client.register_script(SCRIPT)
        arguments = json.dumps(self.ops, ensure_ascii=False, separators=(",", ":"))
        return list(script(keys=self.keys, args=[arguments]))
