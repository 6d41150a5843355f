"""Stand-ins the benchmarks build the product's chain with (`app.Product.daemon(connect=..., pipeline=...)`),
instead of patching it: a consumer that notes its first records and times poll and commit, and a pipeline
whose stages are timed."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from monitor.pipeline import Decoded, Pipeline, Record


class Stages:
    """Wall seconds spent in each timed stage (daemon threads), and call counts."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.on = True

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.on:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*a: Any, **k: Any) -> Any:
            with self.timing(name):
                return fn(*a, **k)

        return wrapped

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


class WatchedSource:
    """A consumers.source.KafkaSource that calls ``first_records()`` when a poll first returns records (the
    empty polls of the group join are not throughput) and from then on times poll and commit in ``stages``."""

    def __init__(self, source: Any, first_records: Callable[[], None], stages: Stages | None = None) -> None:
        self._source = source
        self._first_records = first_records
        self._stages = stages or Stages()
        self._started = False

    def poll(self, max_records: int, timeout_ms: int) -> list[Any]:
        if not self._started:
            records = self._source.poll(max_records=max_records, timeout_ms=timeout_ms)
            if records:
                self._started = True
                self._first_records()
            return list(records)
        with self._stages.timing("poll"):
            return list(self._source.poll(max_records=max_records, timeout_ms=timeout_ms))

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        with self._stages.timing("commit"):
            self._source.commit(offsets)

    def __getattr__(self, name: str) -> Any:  # pause_all, resume_all, connections, lag, assignment, close
        return getattr(self._source, name)


class TimedPipeline(Pipeline):
    """The product's pipeline with decode, the model and the write timed; ``stored(decoded, at)`` is told when
    each batch's transaction has committed."""

    def __init__(self, base: Pipeline, stages: Stages, stored: Callable[[Decoded, float], None]) -> None:
        super().__init__(stages.wrap("classify", base.classify), base.store, base.max_message_bytes,
                         base.dead_letter_max_bytes)
        self.stages = stages
        self._stored = stored

    def decode(self, records: Sequence[Record]) -> Decoded:
        with self.stages.timing("decode"):
            return super().decode(records)

    def write(self, decoded: Decoded) -> int:
        with self.stages.timing("write"):
            stored = super().write(decoded)
        self._stored(decoded, time.time())
        return stored
