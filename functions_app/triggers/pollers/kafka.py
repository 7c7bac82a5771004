"""Self-managed Apache Kafka as an event source, the way Lambda consumes it: a consumer in the
mapping's consumer group (SelfManagedKafkaEventSourceConfig.ConsumerGroupId) reads the topic,
and the shared partitioned-log logic (``partitioned.run``) batches, invokes, retries, bisects
and sends what it gives up to the OnFailure destination.

- One unit per mapping: Stratus's lease makes one poller run the mapping's consumer, and which
  partitions that consumer reads is Kafka's business. The group coordinator spreads the
  topic's partitions over the members of the consumer group (pollers on other hosts or other
  installations consuming with the same ConsumerGroupId) and moves a partition to another
  member when its consumer leaves or dies. Several units per mapping, each one more member,
  would spread a mapping over several pollers with nothing else here changed.
- ``partitioned.run`` takes one source, so ``KafkaTopicSource`` covers every partition assigned
  to the consumer but hands out **one partition per batch**: a batch never mixes partitions,
  records of a partition keep their order, and the partitions take turns (the one that has
  waited longest goes next). The event's ``records`` therefore holds a single
  ``"<topic>-<partition>"`` key, as a Lambda batch from one partition does.
- Offsets are committed to Kafka (offset + 1, synchronously) when ``partitioned.run``
  checkpoints a batch; nothing is auto-committed. ``rewind`` seeks every partition back to
  the first record read since its last commit. Delivery is at least once: after a rebalance
  or a crash, the new owner starts from the last commit.
- StartingPosition applies only when the group has no committed offset for a partition:
  TRIM_HORIZON → ``earliest``, LATEST → ``latest``, AT_TIMESTAMP → the first offset at or after
  StartingPositionTimestamp (``offsets_for_times`` when partitions are assigned).
- FilterCriteria match ``value`` only (decoded JSON, else the text), as on AWS.
- With ReportBatchItemFailures, ``itemIdentifier`` is the record's offset as a string (the
  position ``partitioned`` knows); AWS's ``{"partition": …, "offset": …}`` object form is not
  understood by ``base.batch_item_failures``.
- A batch may be retried for as long as MaximumRetryAttempts allows without polling Kafka, so
  ``max.poll.interval.ms`` is set to its maximum; the group still notices a dead consumer
  through the session timeout.

The event and batch-info shapes are pure functions of plain values (``kafka_log_record``,
``kafka_event``, ``kafka_batch_info``), and so is the batching across partitions
(``PartitionBatches``), so all of it is tested without a broker.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from functions_app.triggers.models import EventSourceMapping
from functions_app.triggers.pollers import partitioned
from functions_app.triggers.pollers.base import ProcessingResult, backoff, mapping_load, sleep_unless
from functions_app.triggers.pollers.kafka_records import (  # noqa: F401  (re-exported)
    KafkaRecord,
    kafka_batch_info,
    kafka_event,
    kafka_filter_view,
    kafka_log_record,
    kafka_record_from_message,
    kafka_record_json,
)
from functions_app.triggers.pollers.partitioned import LogRecord

logger = logging.getLogger("stratus.pollers")

_AUTO_OFFSET_RESET = {"TRIM_HORIZON": "earliest", "LATEST": "latest", "AT_TIMESTAMP": "earliest"}
_CONNECTION_ERRORS = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}
MAX_POLL_INTERVAL_MS = 86_400_000  # librdkafka's maximum: a batch may be retried for that long
RESULT_OK = "OK"


def units(mapping) -> list[str]:
    """One consumer per mapping: the consumer group, not a lease, decides which partitions it reads."""
    return [f"{mapping.uuid}:kafka"]


# --- Records and their shapes: plain values in, AWS's JSON out -------------------------------------


def consumer_config(config: dict, *, client_id: str) -> dict:
    """The librdkafka settings for a mapping's ``config``."""
    servers = config["SelfManagedEventSource"]["Endpoints"]["KAFKA_BOOTSTRAP_SERVERS"]
    return {
        "bootstrap.servers": ",".join(servers),
        "group.id": config["SelfManagedKafkaEventSourceConfig"]["ConsumerGroupId"],
        "client.id": client_id,
        "enable.auto.commit": False,
        "auto.offset.reset": _AUTO_OFFSET_RESET[config.get("StartingPosition", "TRIM_HORIZON")],
        "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
        "reconnect.backoff.ms": 1000,
        "reconnect.backoff.max.ms": 10000,
    }


# --- One partition per batch ----------------------------------------------------------------------


class PartitionBatches:
    """Records fetched from several partitions, handed out one partition at a time.

    Pure bookkeeping, no Kafka: ``take`` keeps to one partition until ``checkpoint`` or
    ``rewind`` ends the batch, and says which offsets to commit and where to seek back.
    """

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, int], deque[KafkaRecord]] = {}
        # The first offset fetched since the partition's last commit: where a rewind goes back to.
        self.unsettled_from: dict[tuple[str, int], int] = {}
        self.pinned: tuple[str, int] | None = None
        self.pinned_lost = False  # the batch's partition was revoked in the middle of the batch
        self._turns: deque[tuple[str, int]] = deque()  # partitions with records, longest waiting first

    def add(self, records: list[KafkaRecord]) -> None:
        for record in records:
            partition = record.topic_partition
            buffer = self.buffers.setdefault(partition, deque())
            if not buffer and partition not in self._turns and partition != self.pinned:
                self._turns.append(partition)
            buffer.append(record)
            self.unsettled_from.setdefault(partition, record.offset)

    def take(self, count: int) -> list[KafkaRecord]:
        """Up to ``count`` records of the batch's partition (choosing one if the batch is new)."""
        if self.pinned_lost:
            return []
        if self.pinned is None:
            while self._turns and not self.buffers.get(self._turns[0]):
                self._turns.popleft()
            if not self._turns:
                return []
            self.pinned = self._turns.popleft()
        buffer = self.buffers.get(self.pinned) or deque()
        return [buffer.popleft() for _ in range(min(count, len(buffer)))]

    def buffered(self, partition: tuple[str, int]) -> int:
        return len(self.buffers.get(partition) or ())

    def checkpoint(self, record: KafkaRecord) -> TopicPartition:
        """End the batch at ``record``; the offset to commit for its partition."""
        partition = record.topic_partition
        buffer = self.buffers.get(partition)
        if buffer:
            self.unsettled_from[partition] = buffer[0].offset
            if partition not in self._turns:
                self._turns.append(partition)
        else:
            self.unsettled_from.pop(partition, None)
        self.pinned = None
        self.pinned_lost = False
        return TopicPartition(record.topic, record.partition, record.offset + 1)

    def rewind(self) -> list[TopicPartition]:
        """Forget everything fetched since each partition's last commit; where to seek back to."""
        seeks = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in self.unsettled_from.items()
        ]
        self.buffers.clear()
        self.unsettled_from.clear()
        self._turns.clear()
        self.pinned = None
        self.pinned_lost = False
        return seeks

    def revoke(self, partitions: list[tuple[str, int]]) -> None:
        """Drop revoked partitions: their new owner starts from the last commit."""
        for partition in partitions:
            self.buffers.pop(partition, None)
            self.unsettled_from.pop(partition, None)
            if partition in self._turns:
                self._turns.remove(partition)
            if partition == self.pinned:
                self.pinned_lost = True


# --- The source over a real consumer --------------------------------------------------------------


class _FatalKafkaError(Exception):
    """librdkafka reported a fatal error: this consumer cannot go on; make a new one."""


class KafkaTopicSource:
    """A ``PartitionSource`` over every partition of the topic assigned to one consumer."""

    def __init__(self, mapping: EventSourceMapping, *, result: ProcessingResult | None = None) -> None:
        config = mapping.config
        self.topic = mapping.source
        self.label = self.topic
        self.bootstrap_servers = ",".join(
            config["SelfManagedEventSource"]["Endpoints"]["KAFKA_BOOTSTRAP_SERVERS"]
        )
        self.position = config.get("StartingPosition", "TRIM_HORIZON")
        self.timestamp_ms = int(config.get("StartingPositionTimestamp", 0) * 1000)
        self.result = result
        self.batches = PartitionBatches()
        self.paused: set[tuple[str, int]] = set()
        self.fatal: KafkaError | None = None
        self.errors_logged: set[str] = set()  # each error once, until records flow again
        self.progressed = False  # a batch was committed: the consumer worked
        self.consumer = Consumer(
            {
                **consumer_config(config, client_id=f"stratus-{mapping.uuid}"),
                "error_cb": self._on_error,
                # librdkafka's own log repeats every failed connection; its errors reach the
                # poller's log through error_cb instead, once per change.
                "log_level": 2,
            }
        )
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    # PartitionSource

    def read(self, count: int, block_seconds: float) -> list[LogRecord]:
        records = self.batches.take(count)
        if records:
            return list(records)
        # Poll even when the batch's partition was revoked: it serves the group's callbacks, and
        # blocking here (also through error events) keeps the batching window from spinning.
        deadline = time.monotonic() + max(0.0, block_seconds)
        messages: list = []
        while not messages:
            message = self.consumer.poll(max(0.0, deadline - time.monotonic()))
            if self.fatal is not None:
                raise _FatalKafkaError(self.fatal.str())
            if message is None:
                break
            if self._usable(message):
                messages = [message, *self.consumer.consume(num_messages=max(1, count - 1), timeout=0)]
            elif time.monotonic() >= deadline:
                break
        if messages:
            self.errors_logged.clear()
        self.batches.add(
            [kafka_record_from_message(message) for message in messages if self._usable(message)]
        )
        self._flow_control(count)
        return list(self.batches.take(count))

    def rewind(self) -> None:
        for seek in self.batches.rewind():
            try:
                self.consumer.seek(seek)
            except KafkaException as error:  # not assigned any more: its new owner starts from the commit
                logger.info(
                    "kafka %s: could not seek back %s[%s]: %s", self.topic, seek.topic, seek.partition, error
                )
        self._resume(list(self.paused))

    def checkpoint(self, record: LogRecord) -> None:
        assert isinstance(record, KafkaRecord)
        offset = self.batches.checkpoint(record)
        try:
            committed = self.consumer.commit(offsets=[offset], asynchronous=False) or []
            error = next((tp.error for tp in committed if tp.error is not None), None)
            if error is not None:
                raise KafkaException(error)
        except KafkaException as error:
            # The partition went to another member in a rebalance: it resumes from the last commit.
            logger.warning(
                "kafka %s: committing %s[%s]@%s failed: %s",
                self.topic,
                offset.topic,
                offset.partition,
                offset.offset,
                error,
            )
            return
        self.progressed = True
        if self.result is not None:
            self.result.set(RESULT_OK)

    def event(self, records: list[LogRecord]) -> dict:
        return kafka_event(self._kafka(records), bootstrap_servers=self.bootstrap_servers)

    def filter_view(self, record: LogRecord) -> dict:
        assert isinstance(record, KafkaRecord)
        return kafka_filter_view(record)

    def batch_info(self, records: list[LogRecord]) -> dict:
        return kafka_batch_info(self._kafka(records), bootstrap_servers=self.bootstrap_servers)

    # The consumer

    def close(self) -> None:
        try:
            self.consumer.close()  # leaves the group at once, so its partitions move without waiting
        except (KafkaException, RuntimeError) as error:
            logger.debug("kafka %s: closing the consumer failed: %s", self.topic, error)

    @staticmethod
    def _kafka(records: list[LogRecord]) -> list[KafkaRecord]:
        return [record for record in records if isinstance(record, KafkaRecord)]

    def _usable(self, message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            self._result(
                f"PROBLEM: Topic {self.topic!r} does not exist on the cluster ({self.bootstrap_servers})."
            )
        elif error.code() != KafkaError._PARTITION_EOF:
            logger.warning("kafka %s: %s", self.topic, error.str())
        return False

    def _flow_control(self, count: int) -> None:
        """Pause partitions whose records wait in memory, resume them once their turn drained them."""
        limit = max(2 * count, 500)
        full = [p for p in self.batches.buffers if p not in self.paused and self.batches.buffered(p) >= limit]
        drained = [p for p in self.paused if self.batches.buffered(p) < limit // 2]
        if full:
            self.consumer.pause([TopicPartition(topic, partition) for topic, partition in full])
            self.paused.update(full)
        self._resume(drained)

    def _resume(self, partitions: list[tuple[str, int]]) -> None:
        if partitions:
            self.consumer.resume([TopicPartition(topic, partition) for topic, partition in partitions])
            self.paused.difference_update(partitions)

    def _on_assign(self, consumer, partitions: list[TopicPartition]) -> None:
        if self.position == "AT_TIMESTAMP":
            committed = consumer.committed(partitions, timeout=10)
            fresh = [
                TopicPartition(tp.topic, tp.partition, self.timestamp_ms) for tp in committed if tp.offset < 0
            ]
            if fresh:
                found = {
                    (tp.topic, tp.partition): tp.offset
                    for tp in consumer.offsets_for_times(fresh, timeout=10)
                }
                for tp in partitions:
                    if (tp.topic, tp.partition) in found:
                        offset = found[(tp.topic, tp.partition)]
                        # No record at or after the time: start at the end, as AWS does.
                        tp.offset = offset if offset >= 0 else confluent_kafka.OFFSET_END
            consumer.assign(partitions)
        logger.info("kafka %s: assigned partitions %s", self.topic, [tp.partition for tp in partitions])

    def _on_revoke(self, consumer, partitions: list[TopicPartition]) -> None:
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        self.batches.revoke(revoked)
        # Resume while still assigned, so a partition given back to us later is not left paused.
        self._resume([partition for partition in revoked if partition in self.paused])
        logger.info("kafka %s: revoked partitions %s", self.topic, [tp.partition for tp in partitions])

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.fatal = error
        if error.code() in _CONNECTION_ERRORS:
            self._result(
                f"PROBLEM: Connection error. Could not reach the Kafka brokers ({self.bootstrap_servers})."
            )
        if error.str() not in self.errors_logged:
            logger.warning("kafka %s: %s", self.topic, error.str())
            self.errors_logged.add(error.str())

    def _result(self, text: str) -> None:
        if self.result is not None:
            self.result.set(text)


def run(mapping_id, unit: str, stop) -> None:
    """Consume until ``stop`` is set or the mapping is disabled or deleted; a new consumer, after a
    backoff, when one fails."""
    result = ProcessingResult(mapping_id)
    attempt = 0
    while not stop.is_set():
        mapping = mapping_load(mapping_id)
        if mapping is None:
            return
        source = None
        try:
            source = KafkaTopicSource(mapping, result=result)
            partitioned.run(mapping_id, source, stop)
            return  # stopped, or the mapping was disabled or deleted
        except (KafkaException, _FatalKafkaError) as error:
            logger.warning("mapping %s: Kafka consumer error: %s", mapping_id, error)
            result.set(f"PROBLEM: Kafka error: {error}")
        except Exception:
            logger.exception("mapping %s: the Kafka poller failed; starting a new consumer", mapping_id)
            result.set("PROBLEM: Internal error in the poller; see the poller's log")
        finally:
            if source is not None:
                source.close()
        if source is not None and source.progressed:
            attempt = 0
        if sleep_unless(stop, backoff(attempt)):
            return
        attempt += 1
