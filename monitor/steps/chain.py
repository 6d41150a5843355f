"""poll -> decode -> classify -> store -> commit, put together. The steps are built tail first, each given
the next; the chain itself answers poll / join / close for its head."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from monitor.breaker import InvalidRatioBreaker
from monitor.pipeline import Pipeline
from monitor.steps.backoff import broker_health
from monitor.steps.classify import ClassifyStep
from monitor.steps.commit import CommitStep, Offsets, StreamStats
from monitor.steps.decode import DecodeStep
from monitor.steps.poll import Consumer, PollStep
from monitor.steps.store import StoreStep


class Source(Consumer, Protocol):
    """consumers.source.KafkaSource as the chain sees it: the poll step's consumer, the commit step's commit."""

    def commit(self, offsets: Offsets) -> None: ...


@dataclass(frozen=True)
class Batching:
    max_size: int
    max_wait_s: float
    max_bytes: int | None = None


@dataclass
class Chain:
    poll_step: PollStep
    decode: DecodeStep
    classify: ClassifyStep
    store: StoreStep
    commit: CommitStep

    def poll(self) -> None:
        self.poll_step.poll()

    def join(self, timeout: float) -> None:
        self.poll_step.join(timeout)

    def close(self) -> None:
        self.poll_step.close()


def build_chain(
    source: Source,
    pipeline: Pipeline,
    batching: Batching,
    stats: StreamStats,
    *,
    is_transient: Callable[[BaseException], bool],
    breaker: InvalidRatioBreaker | None = None,
    wait: Callable[[float], object] = time.sleep,
) -> Chain:
    broker = broker_health()
    commit = CommitStep(source.commit, broker, stats)
    store = StoreStep(commit, pipeline.write, is_transient)
    classify = ClassifyStep(store, pipeline.classify_batch)
    decode = DecodeStep(classify, pipeline.decode, breaker)
    poll = PollStep(source, decode, batching.max_size, batching.max_wait_s, batching.max_bytes,
                    broker=broker, wait=wait)
    return Chain(poll, decode, classify, store, commit)
