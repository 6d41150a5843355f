"""Articles -> predictions (the model). No I/O: a database retry downstream never runs the model again, because
a classified batch the store step refuses is held here (step.Transform) until it is taken."""

from __future__ import annotations

from collections.abc import Callable

from monitor.pipeline import Decoded
from monitor.steps.step import Batch, Step, Transform


class ClassifyStep(Transform[Batch, Batch]):
    def __init__(self, next_step: Step[Batch], classify: Callable[[Decoded], None]) -> None:
        super().__init__(next_step)
        self.classify = classify

    def process(self, batch: Batch) -> Batch:
        self.classify(batch.decoded)
        return batch
