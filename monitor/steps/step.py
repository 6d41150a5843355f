"""The one interface every step of the stream speaks, and what flows through it.

- ``submit(batch)``: take a batch (or raise ``MessageRejected``: the caller keeps it and offers it again later).
- ``poll()``: do the work that is due (forward a finished batch, retry, ...), then poll the next step.
- ``join(timeout)``: finish what was accepted, within ``timeout`` seconds; what is left is abandoned, never
  committed, so the consumer group re-delivers it.
- ``close()``: release threads and clients; commit nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from monitor.pipeline import Decoded, Record

In = TypeVar("In")
Out = TypeVar("Out")
T_contra = TypeVar("T_contra", contravariant=True)

JOIN_PAUSE_S = 0.01  # between tries to hand on a held batch while joining


class MessageRejected(Exception):  # noqa: N818 - arroyo's name for it
    """The step cannot take this batch now; the caller keeps it and offers it again (backpressure)."""


class Step(Protocol[T_contra]):
    def submit(self, batch: T_contra) -> None: ...
    def poll(self) -> None: ...
    def join(self, timeout: float) -> None: ...
    def close(self) -> None: ...


@dataclass
class Batch:
    """One batch from decode to commit: the records it was made of (their offsets are what commit commits),
    what decode and classify made of them, and, once store has committed its transaction, what was new."""

    records: Sequence[Record]
    decoded: Decoded
    started: float  # time.perf_counter() when the poll step handed it on
    stored: int | None = None  # new articles; set by store once the transaction committed


class Transform(Generic[In, Out]):
    """A step that turns each batch into the next step's batch on the caller's thread (arroyo's RunTask).

    A result the next step refused is held (one at most) and handed on by ``poll``; meanwhile ``submit``
    refuses, so the work is never done twice and the refusal travels up to the poll step."""

    def __init__(self, next_step: Step[Out]) -> None:
        self.next = next_step
        self._held: Out | None = None

    def process(self, batch: In) -> Out:
        raise NotImplementedError

    def submit(self, batch: In) -> None:
        if self._held is not None:
            raise MessageRejected
        self._hand_on(self.process(batch))

    def _hand_on(self, out: Out) -> None:
        try:
            self.next.submit(out)
        except MessageRejected:
            self._held = out

    def poll(self) -> None:
        self.next.poll()
        if self._held is not None:
            held, self._held = self._held, None
            self._hand_on(held)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._held is not None and time.monotonic() < deadline:
            self.poll()
            if self._held is not None:
                time.sleep(JOIN_PAUSE_S)
        self.next.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self._held = None
        self.next.close()
