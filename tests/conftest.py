"""Shared fixtures: a real event store on SQLite (a file) or PostgreSQL (the server)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.settings import Settings
from infra.wiring import open_app
from tests.support import free_port

PG_ADMIN_URL = os.environ.get(
    "HALLWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
KEY = bytes(range(32))
CLICKHOUSE_SCRIPT = (
    Path(__file__).resolve().parents[1] / "infra" / "scripts" / "clickhouse-server.sh"
)


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"hallwatch_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = _pg_admin()
    except Exception as e:  # the CI script starts PostgreSQL; say so plainly if it is not there
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {e}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_admin() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each real backend: the same tests run on SQLite and PostgreSQL."""
    url = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    return Settings(data_dir=tmp_path / "data", database_url=url, secret_key=KEY)


@pytest.fixture
def app(settings: Settings) -> Iterator[Hallwatch]:
    application = open_app(settings)
    application.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    try:
        yield application
    finally:
        application.close()


@pytest.fixture
def reopen(settings: Settings) -> Iterator[object]:
    """Open further application instances on the same store (as another process would)."""
    opened: list[Hallwatch] = []

    def _open() -> Hallwatch:
        a = open_app(settings)
        opened.append(a)
        return a

    yield _open
    for a in opened:
        a.close()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real local broker (tansu, S3 gate, rclone) on free ports, one per test module."""
    from infra.broker import BrokerConfig, LocalBroker

    b = LocalBroker(
        BrokerConfig(
            data_dir=tmp_path_factory.mktemp("broker"), kafka_port=free_port(), s3_port=free_port()
        )
    )
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[str]:
    """URL of a ClickHouse server (Debian's clickhouse-server, 18.16 in CI) for the whole
    session: a private one on free ports started by ``infra/scripts/clickhouse-server.sh``
    (which installs the package when missing), or ``HALLWATCH_TEST_CLICKHOUSE``."""
    given = os.environ.get("HALLWATCH_TEST_CLICKHOUSE")
    if given:
        yield given
        return
    ports = ["--tcp-port", str(free_port()), "--http-port", str(free_port())]
    t0 = time.monotonic()
    started = subprocess.run(
        ["bash", str(CLICKHOUSE_SCRIPT), "start", *ports],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if started.returncode != 0:
        pytest.fail(f"could not start a ClickHouse server:\n{started.stderr}")
    print(f"\nClickHouse server up in {time.monotonic() - t0:.2f}s: {started.stderr.strip()}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            ["bash", str(CLICKHOUSE_SCRIPT), "stop", *ports], capture_output=True, timeout=120
        )
