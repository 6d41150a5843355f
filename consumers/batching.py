"""When is a batch full? By size (the GPU likes big batches) or by age (a quiet stream must not wait forever).

Pure and clock-injected, so tests drive it with a fake clock and no sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """Collects items; `ready()` once `max_size` items are held or the oldest has waited `max_wait_s`."""

    def __init__(self, max_size: int, max_wait_s: float, now: Callable[[], float] = time.monotonic) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._now = now
        self._items: list[T] = []
        self._first_at: float | None = None  # when the oldest held item arrived

    def add(self, items: Iterable[T]) -> None:
        """Hold more items. The wait clock starts with the first item of an empty batch."""
        items = list(items)
        if not items:
            return
        if not self._items:
            self._first_at = self._now()
        self._items.extend(items)

    def __len__(self) -> int:
        return len(self._items)

    def age(self) -> float:
        """Seconds the oldest held item has waited (0 when empty)."""
        if self._first_at is None:
            return 0.0
        return max(0.0, self._now() - self._first_at)

    def ready(self) -> bool:
        """True when a batch should be taken now: full, or non-empty and old enough."""
        if not self._items:
            return False
        return len(self._items) >= self.max_size or self.age() >= self.max_wait_s

    def remaining_wait(self) -> float:
        """Seconds until the age limit makes a batch ready: 0 if ready now, `max_wait_s` when empty.

        Meant as the poll timeout: the loop then wakes up exactly when the batch is due.
        """
        if not self._items:
            return self.max_wait_s
        if len(self._items) >= self.max_size:
            return 0.0
        return max(0.0, self.max_wait_s - self.age())

    def take(self) -> list[T]:
        """Remove and return up to `max_size` of the oldest items (all of them if fewer).

        Leftovers keep the old start time: they have waited at least as long, so the next batch is
        due at once rather than after a fresh `max_wait_s`.
        """
        batch, self._items = self._items[: self.max_size], self._items[self.max_size :]
        if not self._items:
            self._first_at = None
        return batch
