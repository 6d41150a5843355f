"""Shared fixtures: real PostgreSQL (tests/db_fixtures.py), the real Kafka-protocol broker
(tests/kafka_fixtures.py), and the labelled data beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.db_fixtures import *  # noqa: F403
from tests.kafka_fixtures import kafka_broker  # noqa: F401
from tests.model_fixtures import tiny_checkpoint  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MONITOR_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "tfn_topic" / "topic_train.csv").is_file():
        pytest.fail(f"labelled data not found at {SHARED_DATA} (set MONITOR_SHARED_DATA)")
    return SHARED_DATA
