"""Shared fixtures: real PostgreSQL (tests/db_fixtures.py), the real Kafka-protocol broker
(tests/kafka_fixtures.py), and the labelled data carried in data/."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.labelled_data import DataNotFound, data_dir
from tests.db_fixtures import *  # noqa: F403
from tests.kafka_fixtures import kafka_broker  # noqa: F401
from tests.model_fixtures import tiny_checkpoint  # noqa: F401


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The labelled CSVs: the repository's data/ (or $MONITOR_SHARED_DATA)."""
    try:
        return data_dir()
    except DataNotFound as e:
        pytest.fail(str(e), pytrace=False)
