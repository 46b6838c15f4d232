"""One small hall for the dashboard tests of a session (building it takes a while)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboard_support import Hall, build_hall, dashboard_env


@pytest.fixture(scope="session")
def hall(tmp_path_factory: pytest.TempPathFactory) -> Hall:
    return build_hall(tmp_path_factory.mktemp("hall"))


@pytest.fixture
def dashboard(hall: Hall) -> Iterator[Hall]:
    """The hall's settings in the environment while a test runs the dashboard."""
    with dashboard_env(hall):
        yield hall
