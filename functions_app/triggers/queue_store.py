"""Stratus queues in Redis, with SQS's semantics: each operation one atomic Lua step.

Per queue ``q`` (keys share a hash tag, so a queue lives on one Redis node):

- ``{q}:m`` hash: message id → the message as JSON (body, attributes, sent time, receive count,
  first receive time, the current receipt token);
- ``{q}:v`` sorted set: message id → when it is next visible (ms). A delayed or in-flight
  message simply has a future score, so a visibility timeout that lapses needs no sweeper;
- ``{q}:t`` sorted set: message id → sent time (ms), for retention and the oldest message's age;
- ``{q}:d`` sorted set: message id → end of its delay, only for messages sent with one, so the
  counts tell delayed from in-flight messages without reading every message;
- ``{q}:w`` list: a wake-up token per message sent, which long-polling receivers block on.

A receive moves a message whose receive count has reached the redrive policy's
``maxReceiveCount`` to the dead-letter queue instead of returning it, as SQS does, and drops
messages older than the retention period. Receipt handles name the queue, the message and a
token that changes on every receive, so only the latest receive can delete or extend it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import struct
import time
import uuid
from dataclasses import dataclass

import redis

KEY_PREFIX = "stratus:queue"
WAKE_TOKENS_KEPT = 64


def queue_keys(name: str) -> dict[str, str]:
    base = f"{KEY_PREFIX}:{{{name}}}"
    return {
        "messages": f"{base}:m",
        "visible": f"{base}:v",
        "sent": f"{base}:t",
        "delayed": f"{base}:d",
        "wake": f"{base}:w",
    }


_SEND = """
local m, v, t, w, d = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
for i = 1, #ARGV, 4 do
  local id, raw, visible_at, sent = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('HSET', m, id, raw)
  redis.call('ZADD', v, visible_at, id)
  redis.call('ZADD', t, sent, id)
  if tonumber(visible_at) > tonumber(sent) then redis.call('ZADD', d, visible_at, id) end
  redis.call('LPUSH', w, '1')
end
redis.call('LTRIM', w, 0, WAKE_LAST)
return 1
""".replace("WAKE_LAST", str(WAKE_TOKENS_KEPT - 1))

# KEYS: the queue's m, v, t, d, then the dead-letter queue's m, v, t, w (may repeat the queue's
# own when there is none). ARGV: now, count, visibility ms, retention ms, max receive (0: none),
# token prefix.
_RECEIVE = """
local m, v, t, d = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local visibility, retention = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_receive, token = tonumber(ARGV[5]), ARGV[6]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', t, '-inf', now - retention, 'LIMIT', 0, 500)) do
  redis.call('HDEL', m, id); redis.call('ZREM', v, id); redis.call('ZREM', t, id); redis.call('ZREM', d, id)
end
local out = {}
local rounds = 0
while #out < count and rounds < 50 do
  rounds = rounds + 1
  local ids = redis.call('ZRANGEBYSCORE', v, '-inf', now, 'LIMIT', 0, count - #out)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local raw = redis.call('HGET', m, id)
    redis.call('ZREM', d, id)  -- visible now, so no longer delayed, whatever happens next
    if not raw then
      redis.call('ZREM', v, id); redis.call('ZREM', t, id)
    else
      local message = cjson.decode(raw)
      if max_receive > 0 and message.rc >= max_receive then
        message.rc = 0
        message.first = 0
        message.rh = ''
        redis.call('HSET', KEYS[5], id, cjson.encode(message))
        redis.call('ZADD', KEYS[6], now, id)
        redis.call('ZADD', KEYS[7], message.sent, id)
        redis.call('LPUSH', KEYS[8], '1')
        redis.call('HDEL', m, id); redis.call('ZREM', v, id); redis.call('ZREM', t, id)
      else
        message.rc = message.rc + 1
        if message.first == 0 then message.first = now end
        message.rh = token .. #out
        local encoded = cjson.encode(message)
        redis.call('HSET', m, id, encoded)
        redis.call('ZADD', v, now + visibility, id)
        table.insert(out, id)
        table.insert(out, encoded)
      end
    end
  end
end
return out
"""

# KEYS: m, v, t, d. ARGV: id, token. Deletes only with the latest receipt; 1 when deleted.
_DELETE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if cjson.decode(raw).rh ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1]); redis.call('ZREM', KEYS[2], ARGV[1]); redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
"""

# KEYS: m, v. ARGV: id, token, now, new visible-at. 1 changed, 0 stale handle, -1 not in flight.
_CHANGE_VISIBILITY = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if cjson.decode(raw).rh ~= ARGV[2] then return 0 end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) <= tonumber(ARGV[3]) then return -1 end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
"""

# KEYS: v, t, d. ARGV: now. Returns visible, in flight, delayed, oldest sent time (ms, or -1);
# each a count over a sorted set, however deep the queue.
_COUNTS = """
local now = tonumber(ARGV[1])
local visible = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local hidden = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local delayed = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {visible, hidden - delayed, delayed, oldest[2] or -1}
"""


class ReceiptHandleInvalid(ValueError):
    pass


class MessageNotInFlight(ValueError):
    pass


@dataclass(frozen=True)
class QueueSettings:
    """What the store needs to know of a queue's attributes, in the units it works in."""

    name: str
    visibility_timeout: int = 30
    retention_seconds: int = 345600
    delay_seconds: int = 0
    max_receive_count: int = 0
    dead_letter_queue: str = ""


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict  # message attributes, SQS's {"Name": {"DataType", "StringValue"|"BinaryValue"}}
    md5_of_attributes: str
    sent_ms: int
    receive_count: int
    first_receive_ms: int
    sender_id: str


def body_md5(body: str) -> str:
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def attributes_md5(attributes: dict) -> str:
    """SQS's digest of message attributes (botocore and the SDKs check it)."""
    if not attributes:
        return ""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        for part in (name.encode(), data_type.encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        if data_type.startswith("Binary"):
            raw = value["BinaryValue"]
            raw = raw if isinstance(raw, bytes) else base64.b64decode(raw)
            digest.update(b"\x02" + struct.pack(">I", len(raw)) + raw)
        else:
            raw = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(raw)) + raw)
    return digest.hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


def receipt_handle_encode(queue: str, message_id: str, token: str) -> str:
    return base64.urlsafe_b64encode(f"{queue}\n{message_id}\n{token}".encode()).decode()


def receipt_handle_decode(queue: str, handle: str) -> tuple[str, str]:
    try:
        name, message_id, token = base64.urlsafe_b64decode(handle.encode()).decode().split("\n")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ReceiptHandleInvalid(
            f"The input receipt handle {handle!r} is not a valid receipt handle."
        ) from None
    if name != queue:
        raise ReceiptHandleInvalid(f"The input receipt handle {handle!r} is not for this queue.")
    return message_id, token


class QueueStore:
    """The operations on Stratus queues' messages; one instance per Redis connection."""

    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection
        self._send = connection.register_script(_SEND)
        self._receive = connection.register_script(_RECEIVE)
        self._delete = connection.register_script(_DELETE)
        self._change = connection.register_script(_CHANGE_VISIBILITY)
        self._counts = connection.register_script(_COUNTS)

    def send(
        self, queue: QueueSettings, entries: list[dict], *, sender_id: str
    ) -> list[tuple[str, str, str]]:
        """Store messages (``{"body", "attributes", "delay"}``); return (id, md5 body, md5 attrs) each."""
        now = _now_ms()
        args: list = []
        sent = []
        for entry in entries:
            message_id = str(uuid.uuid4())
            body, attributes = entry["body"], entry.get("attributes") or {}
            delay = entry.get("delay")
            delay = queue.delay_seconds if delay is None else delay
            md5s = (body_md5(body), attributes_md5(attributes))
            message = {
                "body": body,
                "attrs": attributes,
                "md5": md5s[0],
                "md5a": md5s[1],
                "sent": now,
                "rc": 0,
                "first": 0,
                "rh": "",
                "sender": sender_id,
            }
            args += [message_id, json.dumps(message), now + delay * 1000, now]
            sent.append((message_id, *md5s))
        keys = queue_keys(queue.name)
        self._send(
            keys=[keys["messages"], keys["visible"], keys["sent"], keys["wake"], keys["delayed"]], args=args
        )
        return sent

    def receive(
        self,
        queue: QueueSettings,
        *,
        count: int,
        visibility_timeout: int | None = None,
        wait_seconds: float = 0,
    ) -> list[ReceivedMessage]:
        """Up to ``count`` visible messages, each hidden for the visibility timeout; with
        ``wait_seconds``, block (long polling) until one arrives or the wait is over."""
        deadline = time.monotonic() + wait_seconds
        keys = queue_keys(queue.name)
        while True:
            received = self._receive_once(queue, keys, count, visibility_timeout)
            remaining = deadline - time.monotonic()
            if received or remaining <= 0:
                return received
            self._wait(keys, remaining)

    def _wait(self, keys: dict[str, str], remaining: float) -> None:
        # A delayed message or a lapsing visibility timeout wakes nobody: sleep no longer than
        # until the next one is due.
        due = self.redis.zrange(keys["visible"], 0, 0, withscores=True)
        if due:
            remaining = min(remaining, max(0.01, due[0][1] / 1000 - time.time()))
        # BLPOP's timeout has a resolution of milliseconds from Redis 6 on.
        self.redis.blpop([keys["wake"]], timeout=max(0.01, remaining))

    def _receive_once(self, queue, keys, count, visibility_timeout) -> list[ReceivedMessage]:
        if queue.dead_letter_queue and queue.max_receive_count:
            dlq = queue_keys(queue.dead_letter_queue)
            max_receive = queue.max_receive_count
        else:
            dlq, max_receive = keys, 0
        token = secrets.token_hex(12)
        visibility = queue.visibility_timeout if visibility_timeout is None else visibility_timeout
        raw = self._receive(
            keys=[
                keys["messages"],
                keys["visible"],
                keys["sent"],
                keys["delayed"],
                dlq["messages"],
                dlq["visible"],
                dlq["sent"],
                dlq["wake"],
            ],
            args=[_now_ms(), count, visibility * 1000, queue.retention_seconds * 1000, max_receive, token],
        )
        received = []
        for message_id, encoded in zip(raw[::2], raw[1::2], strict=True):
            message = json.loads(encoded)
            received.append(
                ReceivedMessage(
                    message_id=message_id.decode(),
                    receipt_handle=receipt_handle_encode(queue.name, message_id.decode(), message["rh"]),
                    body=message["body"],
                    md5_of_body=message["md5"],
                    attributes=message["attrs"] or {},
                    md5_of_attributes=message["md5a"],
                    sent_ms=message["sent"],
                    receive_count=message["rc"],
                    first_receive_ms=message["first"],
                    sender_id=message.get("sender", ""),
                )
            )
        return received

    def delete(self, queue: QueueSettings, receipt_handle: str) -> bool:
        """Delete by the latest receipt handle; an older handle is accepted and deletes nothing."""
        message_id, token = receipt_handle_decode(queue.name, receipt_handle)
        keys = queue_keys(queue.name)
        return bool(
            self._delete(
                keys=[keys["messages"], keys["visible"], keys["sent"], keys["delayed"]],
                args=[message_id, token],
            )
        )

    def change_visibility(self, queue: QueueSettings, receipt_handle: str, timeout: int) -> None:
        message_id, token = receipt_handle_decode(queue.name, receipt_handle)
        keys = queue_keys(queue.name)
        now = _now_ms()
        changed = self._change(
            keys=[keys["messages"], keys["visible"]], args=[message_id, token, now, now + timeout * 1000]
        )
        if changed == -1:
            raise MessageNotInFlight(f"Message {message_id} is not in flight.")

    def counts(self, queue_name: str) -> dict[str, int]:
        """Visible, in-flight and delayed messages, and the oldest message's age in seconds."""
        keys = queue_keys(queue_name)
        now = _now_ms()
        visible, in_flight, delayed, oldest = self._counts(
            keys=[keys["visible"], keys["sent"], keys["delayed"]], args=[now]
        )
        oldest = int(float(oldest))
        return {
            "visible": int(visible),
            "in_flight": int(in_flight),
            "delayed": int(delayed),
            "oldest_age_seconds": max(0, (now - oldest) // 1000) if oldest >= 0 else 0,
        }

    def purge(self, queue_name: str) -> None:
        keys = queue_keys(queue_name)
        self.redis.delete(keys["messages"], keys["visible"], keys["sent"], keys["delayed"])

    def drop(self, queue_name: str) -> None:
        self.redis.delete(*queue_keys(queue_name).values())
