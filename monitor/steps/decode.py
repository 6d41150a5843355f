"""Records -> articles and dead letters, and the invalid-message circuit breaker: a batch that trips it never
reaches store or commit (CircuitOpen stops the daemon; the batches before it are finished first)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from monitor.breaker import InvalidRatioBreaker
from monitor.pipeline import Decoded, Record
from monitor.steps.step import Batch, Step, Transform


class DecodeStep(Transform[Sequence[Record], Batch]):
    def __init__(self, next_step: Step[Batch], decode: Callable[[Sequence[Record]], Decoded],
                 breaker: InvalidRatioBreaker | None = None) -> None:
        super().__init__(next_step)
        self.decode = decode
        self.breaker = breaker

    def process(self, batch: Sequence[Record]) -> Batch:
        started = time.perf_counter()
        decoded = self.decode(batch)
        if self.breaker is not None:
            self.breaker.record(valid=len(decoded.valid), invalid=len(decoded.dead))
            self.breaker.check()  # raises before anything of this batch is stored or committed
        return Batch(batch, decoded, started)
