"""When is a batch full? By size (the GPU likes big batches), by bytes (a batch of messages near the size limit
must not need gigabytes), or by age (a quiet stream must not wait forever).

Pure and clock-injected, so tests drive it with a fake clock and no sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """Collects items; `ready()` once `max_size` items or `max_bytes` (by `size_of`) are held, or the oldest has
    waited `max_wait_s`."""

    def __init__(
        self,
        max_size: int,
        max_wait_s: float,
        now: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int | None = None,
        size_of: Callable[[T], int] | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        if max_bytes is not None and (max_bytes < 1 or size_of is None):
            raise ValueError("max_bytes must be >= 1 and needs size_of")
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._now = now
        self._items: list[T] = []
        self._sizes: list[int] = []  # size_of each held item (all 0 without max_bytes)
        self._bytes = 0
        self._first_at: float | None = None  # when the oldest held item arrived

    def add(self, items: Iterable[T]) -> None:
        """Hold more items. The wait clock starts with the first item of an empty batch."""
        items = list(items)
        if not items:
            return
        if not self._items:
            self._first_at = self._now()
        self._items.extend(items)
        sizes = [self._size_of(i) for i in items] if self.max_bytes is not None and self._size_of else [0] * len(items)
        self._sizes.extend(sizes)
        self._bytes += sum(sizes)

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def _full(self) -> bool:
        return len(self._items) >= self.max_size or (self.max_bytes is not None and self._bytes >= self.max_bytes)

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
        return self._full() or self.age() >= self.max_wait_s

    def remaining_wait(self) -> float:
        """Seconds until the age limit makes a batch ready: 0 if ready now, `max_wait_s` when empty.

        Meant as the poll timeout: the loop then wakes up exactly when the batch is due.
        """
        if not self._items:
            return self.max_wait_s
        if self._full():
            return 0.0
        return max(0.0, self.max_wait_s - self.age())

    def take(self) -> list[T]:
        """Remove and return the oldest items: up to `max_size` of them and, with `max_bytes`, no more bytes
        than that (but always at least one item, however big).

        Leftovers keep the old start time: they have waited at least as long, so the next batch is
        due at once rather than after a fresh `max_wait_s`.
        """
        n = min(self.max_size, len(self._items))
        if self.max_bytes is not None:
            total = 0
            for i, size in enumerate(self._sizes[:n]):
                total += size
                if total > self.max_bytes and i > 0:
                    n = i
                    break
        batch, self._items = self._items[:n], self._items[n:]
        self._bytes -= sum(self._sizes[:n])
        self._sizes = self._sizes[n:]
        if not self._items:
            self._first_at = None
        return batch
