"""kombu's Redis transport with one round trip per message instead of three.

kombu's worker takes a message with BRPOP, then records it as unacknowledged (ZADD to the
`unacked_index` zset and HSET to the `unacked` hash, one MULTI/EXEC), and after the task
deletes both (a second MULTI/EXEC). Under load those two transactions cost more than the
task: a worker drained about 700 messages a second where a bare BRPOP loop drained 3,700+.

Here, while messages are waiting, one script takes the next message and records it as
unacknowledged in the same step (so no kill between the pop and the record can lose it,
which kombu's BRPOP-then-record can), and deletes the records of the messages acknowledged
since the last fetch. An acknowledgement is therefore written at the worker's next fetch,
which comes as soon as its task ends (or when the channel closes): a worker killed
between its task's end and that fetch leaves the message unacknowledged, and Redis hands
it out again after the visibility timeout, where the stage's done marker makes it a
duplicate that is ignored. When the script finds every queue empty, the worker waits with
kombu's own BRPOP (and records what it takes kombu's way), so an idle worker blocks, never
polls.

The records are kombu's own (same keys, same `[payload, exchange, routing_key]` JSON, same
score: the worker's clock), so kombu's restore of a dead worker's messages is unchanged.
"""

from __future__ import annotations

import contextlib
import threading
from queue import Empty
from time import monotonic, time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

# KEYS: unacked hash, unacked index, then the queues (priority lists) in the order to take.
# ARGV: the time to score a taken message with, then the delivery tags acknowledged since.
FETCH = """
for i = 2, #ARGV do
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[1], ARGV[i])
end
for i = 3, #KEYS do
  local item = redis.call('RPOP', KEYS[i])
  if item then
    local properties = cjson.decode(item)['properties']
    local delivery = properties['delivery_info'] or {}
    local tag = properties['delivery_tag']
    redis.call('HSET', KEYS[1], tag, '[' .. item .. ',' .. cjson.encode(delivery['exchange'])
      .. ',' .. cjson.encode(delivery['routing_key']) .. ']')
    redis.call('ZADD', KEYS[2], ARGV[1], tag)
    return {KEYS[i], item}
  end
end
return false
"""


class QoS(kombu_redis.QoS):
    """kombu's QoS, with the Redis writes of a message the fetch script recorded skipped,
    and acknowledgements written by the channel's next fetch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acked: list[str] = []
        self._acked_lock = threading.Lock()  # the threads pool acknowledges from its threads

    def append(self, message: Any, delivery_tag: str) -> None:
        if self.channel.fetched_recorded:
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        channel = self.channel
        if channel.closed or channel._in_poll is not None:
            # No fetch of this channel will follow soon: a channel Celery dropped when the
            # connection failed (a task in flight finishing on it), or one waiting in BRPOP.
            super().ack(delivery_tag)
            return
        with self._acked_lock:
            self._acked.append(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)

    def take_acked(self) -> list[str]:
        with self._acked_lock:
            acked, self._acked = self._acked, []
        return acked

    def give_back(self, acked: list[str]) -> None:
        with self._acked_lock:
            self._acked[:0] = acked

    def flush_acked(self) -> None:
        """Write the acknowledgements not yet written (the channel closes)."""
        acked = self.take_acked()
        if acked:
            with self.channel.conn_or_acquire() as client:
                client.pipeline().zrem(self.unacked_index_key, *acked).hdel(
                    self.unacked_key, *acked
                ).execute()


class _FetchInOneStep:
    """The Channel part: fetch with FETCH while messages wait, BRPOP when none did."""

    fetched_recorded = False
    _fetching = False  # the command in flight on the poll connection is FETCH, not BRPOP
    _queues_waiting = True  # the last fetch found a message: try the script first

    def _brpop_start(self, timeout: Any = None) -> None:
        channel: Any = self
        if channel.global_keyprefix or not isinstance(channel.qos, QoS):
            super()._brpop_start(timeout)  # type: ignore[misc]
            return
        acked = channel.qos.take_acked()
        if not (self._queues_waiting or acked):
            self._fetching = False
            super()._brpop_start(timeout)  # type: ignore[misc]
            return
        queues = channel._queue_cycle.consume(len(channel.active_queues))
        if not queues:
            channel.qos.give_back(acked)
            return
        keys = [
            channel._q_for_pri(queue, pri) for pri in channel.priority_steps for queue in queues
        ]
        channel._in_poll = channel.client.connection
        channel._brpop_sent_at = monotonic()
        self._fetching = True
        channel.client.connection.send_command(
            "EVAL",
            FETCH,
            2 + len(keys),
            channel.qos.unacked_key,
            channel.qos.unacked_index_key,
            *keys,
            repr(time()),
            *acked,
        )

    def _brpop_read(self, **options: Any) -> Any:
        if not self._fetching:
            taken = super()._brpop_read(**options)  # type: ignore[misc]
            self._queues_waiting = True  # a message came: more may follow
            return taken
        channel: Any = self
        self._fetching = False
        try:
            try:
                taken = channel.client.parse_response(channel.client.connection, "EVAL")
            except channel.connection_errors:
                channel.client.connection.disconnect()
                raise
            if not taken:
                self._queues_waiting = False
                raise Empty()
            key, item = taken
            queue = bytes_to_str(key).rsplit(channel.sep, 1)[0]
            channel._queue_cycle.rotate(queue)
            self.fetched_recorded = True
            try:
                channel.connection._deliver(loads(bytes_to_str(item)), queue)
            finally:
                self.fetched_recorded = False
            return True
        finally:
            channel._in_poll = None
            channel._flush_brpop_reauth()

    def close(self) -> None:
        channel: Any = self
        qos = channel.__dict__.get("_qos")
        if isinstance(qos, QoS) and not channel.closed:
            # If Redis cannot be reached (the connection failed), the messages stay
            # unacknowledged: handed out again after the visibility timeout, and ignored by
            # the stage as duplicates.
            with contextlib.suppress(*channel.connection_errors):
                qos.flush_acked()
        super().close()  # type: ignore[misc]


class Channel(_FetchInOneStep, kombu_redis.Channel):
    QoS = QoS


class SentinelChannel(_FetchInOneStep, kombu_redis.SentinelChannel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel
