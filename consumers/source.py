"""A thin wrapper over kafka-python: the only module (with broker.py) that imports `kafka`.

Callers see plain types (`RawMessage`, `(topic, partition)` tuples, offsets as ints) and our own
exceptions, so `monitor/` can classify failures without knowing kafka-python (DESIGN §2, §5.1):

- `BrokerUnavailable`: cannot reach the cluster -> back off and retry.
- `CommitFailed`: the group rebalanced under us; the messages will be redelivered to the new owner,
  and idempotent upserts make that harmless -> log and go on.
- `UnreadableRecords`: records this client cannot read (a codec it lacks, a corrupt batch, a record it
  cannot parse) -> stop with what to do: Kafka serves the same records again after a restart.
- `StreamError`: anything else from Kafka -> stop loudly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import kafka.errors as kerr
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition

log = logging.getLogger(__name__)

R = TypeVar("R")

TopicPart = tuple[str, int]

CLOSE_TIMEOUT_MS = 5000
LAG_TIMEOUT_MS = 1000
COMMIT_TIMEOUT_MS = 10_000


class StreamError(Exception):
    """A Kafka error that is neither an outage nor a lost commit: a bug or misconfiguration."""


class BrokerUnavailable(StreamError):
    """The cluster cannot be reached (bootstrap failed, connection lost, request timed out)."""


class CommitFailed(StreamError):
    """Offsets were not committed because the group rebalanced; the batch will be redelivered."""


class UnreadableRecords(StreamError):
    """The fetched records cannot be read. Not transient: the committed offset stays before them, so every
    restart fetches the same records and fails the same way until the operator acts (the message says how)."""


# Every codec a producer may use (librdkafka, the Java client) is a pinned dependency; this names them for
# an installation that lost one.
CODEC_PACKAGES = "python-snappy and cramjam (snappy), lz4, zstandard (zstd); gzip is built in"


# kafka-python 3 dropped NoBrokersAvailable (bootstrap failure is a KafkaTimeoutError); keep it
# when an older kafka-python provides it.
_UNAVAILABLE: tuple[type[BaseException], ...] = tuple(
    t
    for t in (
        getattr(kerr, "NoBrokersAvailable", None),
        kerr.KafkaConnectionError,
        kerr.KafkaTimeoutError,
        kerr.NodeNotReadyError,
        getattr(kerr, "RequestTimedOutError", None),
        getattr(kerr, "CoordinatorNotAvailableError", None),
        getattr(kerr, "NotCoordinatorError", None),
    )
    if isinstance(t, type)
)
_REBALANCED: tuple[type[BaseException], ...] = tuple(
    t
    for t in (
        kerr.CommitFailedError,
        kerr.RebalanceInProgressError,
        kerr.IllegalGenerationError,
        kerr.UnknownMemberIdError,
        getattr(kerr, "FencedInstanceIdError", None),
    )
    if isinstance(t, type)
)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Re-raise kafka-python exceptions as ours, so no caller outside this package imports kafka."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise BrokerUnavailable(_describe(what, exc)) from exc
    except _REBALANCED as exc:
        raise CommitFailed(_describe(what, exc)) from exc
    except (kerr.KafkaError, AssertionError) as exc:  # kafka-python still asserts on some bad configs
        raise StreamError(_describe(what, exc)) from exc


def _describe(what: str, exc: BaseException) -> str:
    detail = " ".join(str(exc).split())  # one line, whatever the library put in its message
    # kafka-python's timeouts often stringify as "KafkaTimeoutError: None".
    if detail in ("", "None") or detail.endswith(": None"):
        detail = type(exc).__name__
    return f"{what}: {detail[:300]}"


@contextmanager
def _reading(topic: str) -> Iterator[None]:
    """Errors in the records a poll fetched (rather than in reaching the broker) become UnreadableRecords."""
    try:
        yield
    except kerr.UnsupportedCodecError as exc:
        raise UnreadableRecords(_describe(f"cannot read {topic}", exc) + f"; install the codec libraries "
                                f"({CODEC_PACKAGES}) and restart") from exc
    except kerr.CorruptRecordError as exc:
        raise UnreadableRecords(_describe(f"cannot read {topic}", exc) + "; to skip it, move the group's "
                                "offset past that record (kafka-consumer-groups --reset-offsets) and restart") from exc
    except (kerr.KafkaError, AssertionError):
        raise  # classified by _translated
    except Exception as exc:  # kafka-python failing to parse a record, e.g. a header key that is not UTF-8
        raise UnreadableRecords(
            _describe(f"cannot read {topic}: kafka-python could not parse a fetched record", exc)
            + f" ({type(exc).__name__}); to skip it, move the group's offset past that record "
            "(kafka-consumer-groups --reset-offsets) and restart") from exc


def _client_options(client: type, options: dict[str, Any] | None) -> dict[str, Any]:
    """Keep the options `client` understands.

    One options dict (MONITOR_KAFKA_CONSUMER_OPTIONS: security settings plus consumer tuning) serves the
    consumer, the dead-letter producer and the admin client alike: consumer-only keys are dropped for
    the others, but a key that no client knows is a typo and fails loudly.
    """
    options = dict(options or {})
    known: dict[str, Any] = client.DEFAULT_CONFIG  # type: ignore[attr-defined]
    unknown = sorted(set(options) - set(known) - set(KafkaConsumer.DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown Kafka client options: {', '.join(unknown)}")
    return {k: v for k, v in options.items() if k in known}


def _servers(bootstrap_servers: str) -> list[str]:
    return [s.strip() for s in bootstrap_servers.split(",") if s.strip()]


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One Kafka record as received: bytes untouched, so invalid ones reach the dead letters verbatim."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


class KafkaSource:
    """A consumer-group member on one topic; offsets are committed only when the caller says so.

    Not thread-safe (neither is KafkaConsumer): call every method from the thread that polls.
    After BrokerUnavailable, back off and call `poll` again: the client reconnects by itself.
    Keep calling `poll` at least every `max_poll_interval_ms`, or the group evicts this member; during
    backpressure, `pause_all()` and keep polling (it then returns nothing) instead of sleeping.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        kwargs: dict[str, Any] = {
            "bootstrap_servers": _servers(bootstrap_servers),
            "group_id": group_id,
            # We commit after the database write (DESIGN §5.2); auto-commit would lose messages on a crash.
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "client_id": f"finnews-monitor-{group_id}",
        }
        kwargs.update(_client_options(KafkaConsumer, options))
        if kwargs.get("enable_auto_commit"):
            log.warning("enable_auto_commit=True from options: offsets may be committed before storage")
        self._closed = False
        with _translated(f"connecting to {bootstrap_servers}"):
            self._consumer = KafkaConsumer(**kwargs)
            self._consumer.subscribe([topic])

    def poll(self, max_records: int, timeout_ms: int) -> list[RawMessage]:
        """Up to max_records messages, waiting at most timeout_ms; in offset order within each partition."""
        with _translated("poll"), _reading(self.topic):
            batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        out: list[RawMessage] = []
        for tp in sorted(batches):
            for rec in batches[tp]:
                out.append(
                    RawMessage(
                        topic=rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        key=rec.key,
                        value=rec.value,
                        timestamp_ms=rec.timestamp if rec.timestamp is not None else -1,
                    )
                )
        return out

    def commit(self, offsets: dict[TopicPart, int], timeout_ms: int = COMMIT_TIMEOUT_MS) -> None:
        """Commit, per partition, the NEXT offset to read (last stored offset + 1). Blocks until done.

        Raises CommitFailed when a rebalance took the partitions away (redelivery follows; harmless with
        idempotent writes), BrokerUnavailable when the coordinator cannot be reached within timeout_ms
        (kafka-python would otherwise retry for a long time, past max_poll_interval_ms).
        """
        if not offsets:
            return
        # leader_epoch -1 = unknown: we do not track epochs, and the broker then skips fencing checks.
        payload = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in offsets.items()
        }
        with _translated("commit"):
            self._consumer.commit(payload, timeout_ms=timeout_ms)

    def committed(self, topic: str, partition: int) -> int | None:
        """The group's committed offset for a partition (None if never committed)."""
        with _translated("committed"):
            value = self._consumer.committed(TopicPartition(topic, partition))
        return None if value is None else int(value)

    def assignment(self) -> list[TopicPart]:
        """Partitions this member owns now, sorted (empty before the first rebalance completes)."""
        return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment() or ())

    def pause_all(self) -> None:
        """Stop fetching from every assigned partition (backpressure); poll keeps the membership alive.

        Partitions assigned by a later rebalance start unpaused: call again after a rebalance if needed.
        """
        parts = self._consumer.assignment()
        if parts:
            self._consumer.pause(*parts)

    def resume_all(self) -> None:
        """Fetch again from every paused partition."""
        parts = self._consumer.paused()
        if parts:
            self._consumer.resume(*parts)

    def paused(self) -> list[TopicPart]:
        return sorted((tp.topic, tp.partition) for tp in self._consumer.paused())

    def connections(self) -> int | None:
        """Live broker connections (kafka-python's connection-count metric), None if it cannot tell.

        kafka-python reconnects by itself and its poll() simply returns nothing while no broker answers,
        so this is how a caller notices an outage that raises nothing.
        """
        try:
            value = (self._consumer.metrics() or {}).get("consumer-metrics", {}).get("connection-count")
        except Exception:  # an unstable interface upstream: never let it break the loop
            return None
        return None if value is None else int(value)

    def lag(self) -> dict[TopicPart, int]:
        """Unconsumed messages per assigned partition (end offset - position). Best effort, never raises.

        The end offset is the larger of ListOffsets(latest) and the high watermark of the last fetch:
        Tansu answers ListOffsets with (base offset of the last record batch + 1), which undercounts
        when the producer batched; the fetch high watermark is right.
        """
        out: dict[TopicPart, int] = {}
        try:
            parts = list(self._consumer.assignment() or ())
            if not parts:
                return out
            try:
                ends = self._consumer.end_offsets(parts, timeout_ms=LAG_TIMEOUT_MS)
            except Exception:  # lag is for metrics: a slow broker must not break the loop
                ends = {}
            for tp in parts:
                try:
                    end = max(ends.get(tp) or 0, self._consumer.highwater(tp) or 0)
                    position = self._consumer.position(tp, timeout_ms=LAG_TIMEOUT_MS)
                except Exception:
                    continue
                if position is not None:
                    out[(tp.topic, tp.partition)] = max(0, end - position)
        except Exception:
            log.debug("lag unavailable", exc_info=True)
        return out

    def close(self) -> None:
        """Leave the group and close connections. Commits nothing (commits are explicit). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
        except Exception:  # closing is cleanup; the broker may already be gone
            log.warning("error while closing Kafka consumer", exc_info=True)

    def __enter__(self) -> KafkaSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class KafkaSink:
    """A producer for one topic (dead letters, `monitor produce`, tests).

    `send` only buffers; `flush` waits for delivery and raises the first failure since the last flush,
    so a caller that flushes before committing offsets never loses a dead letter silently.
    """

    def __init__(self, bootstrap_servers: str, topic: str, options: dict[str, Any] | None = None) -> None:
        self.topic = topic
        # kafka-python 3's defaults already suit dead letters: acks=all, idempotence, retries until
        # delivery_timeout_ms. Only the address is ours.
        kwargs: dict[str, Any] = {"bootstrap_servers": _servers(bootstrap_servers)}
        kwargs.update(_client_options(KafkaProducer, options))
        self._lock = threading.Lock()
        self._error: BaseException | None = None  # set from kafka-python's sender thread
        self._closed = False
        with _translated(f"connecting to {bootstrap_servers}"):
            self._producer = KafkaProducer(**kwargs)

    def _on_error(self, exc: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = exc

    def send(self, value: bytes, key: bytes | None = None) -> None:
        """Queue one message (the partition follows the key, if any)."""
        with _translated(f"send to {self.topic}"):
            future = self._producer.send(self.topic, value=value, key=key)
        future.add_errback(self._on_error)

    def flush(self, timeout_s: float | None = 30.0) -> None:
        """Wait until every queued message is delivered; raise if any failed since the last flush."""
        with _translated(f"flush to {self.topic}"):
            self._producer.flush(timeout=timeout_s)
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            with _translated(f"delivery to {self.topic}"):
                raise error

    def close(self) -> None:
        """Deliver what is queued (bounded wait), then close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._producer.close(timeout=CLOSE_TIMEOUT_MS / 1000)
        except Exception:
            log.warning("error while closing Kafka producer", exc_info=True)

    def __enter__(self) -> KafkaSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _with_admin(bootstrap_servers: str, options: dict[str, Any] | None, fn: Callable[[Any], R]) -> R:
    with _translated(f"connecting to {bootstrap_servers}"):
        admin = KafkaAdminClient(
            bootstrap_servers=_servers(bootstrap_servers), **_client_options(KafkaAdminClient, options)
        )
    try:
        return fn(admin)
    finally:
        admin.close()


def ensure_topic(
    bootstrap_servers: str,
    topic: str,
    partitions: int,
    *,
    replication_factor: int = 1,
    options: dict[str, Any] | None = None,
) -> None:
    """Create the topic if it does not exist (an existing topic is left as it is, whatever its partitions)."""

    def create(admin: Any) -> None:
        try:
            admin.create_topics(
                {topic: {"num_partitions": partitions, "replication_factor": replication_factor}},
                wait_for_metadata=True,
            )
        except kerr.TopicAlreadyExistsError:
            pass

    with _translated(f"creating topic {topic}"):
        _with_admin(bootstrap_servers, options, create)
