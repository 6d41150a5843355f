"""Fixtures of the end-to-end tests."""

from tests.e2e.stream import daemons  # noqa: F401
