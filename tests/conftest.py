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


TIER_OF_FOLDER = {"integration": "integration", "e2e": "e2e"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tier is the folder: everything under tests/integration is `integration`, under tests/e2e `e2e`, so
    `pytest -m "not integration and not e2e"` (tests/unit) never needs a service, a subprocess or training."""
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts if item.path.is_relative_to(root) else ()
        tier = TIER_OF_FOLDER.get(parts[0]) if parts else None
        if tier is not None and item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))
