"""What a command needs from the composition root: its settings, the event store, the
read models and Kafka, each opened when the command asks and closed after it.

A store or service that cannot be opened is a usage error naming where it was
looked for (exit 2); nothing is opened at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click

from domain.application import Hallwatch
from domain.calendar import CalendarOverrideError
from infra.cli.output import EXIT_REFUSED, fail, usage_error
from infra.settings import Settings, SettingsError, from_env
from infra.wiring import open_app
from projections.clickhouse import ClickHouse, ClickHouseError, connect

_T = TypeVar("_T")


@dataclass
class Ctx:
    """The command line's context object: the settings every command reads."""

    settings: Settings


def current_settings() -> Settings:
    """The settings of the running command (the main group's, else the environment's,
    when a command runs on its own)."""
    ctx = click.get_current_context(silent=True)
    settings = getattr(ctx.obj, "settings", None) if ctx is not None else None
    if isinstance(settings, Settings):
        return settings
    try:
        return from_env()
    except SettingsError as e:
        usage_error(str(e))


@contextmanager
def open_store(settings: Settings) -> Iterator[Hallwatch]:
    """The event store (SQLite file or PostgreSQL) as the application, closed after."""
    try:
        app = open_app(settings)
    except (CalendarOverrideError, SettingsError) as e:
        usage_error(str(e))
    except Exception as e:  # connection refused, unwritable folder …
        where = settings.database_url or str(settings.sqlite_path)
        usage_error(f"cannot open the event store at {where}: {e}")
    try:
        yield app
    finally:
        app.close()


def clickhouse_where(settings: Settings) -> str:
    """Where the read models are, without a password."""
    return str(settings.clickhouse_target).split("@")[-1]


def open_reader(settings: Settings) -> ClickHouse:
    """A read-only ClickHouse for queries (any number of processes, beside the projector);
    a clear error when there is nothing to read yet."""
    target = settings.clickhouse_target
    if not isinstance(target, str) and not Path(target).exists():
        fail(f"no read models at {target} yet: run `hallwatch project` first", EXIT_REFUSED)
    try:
        return connect(target, read_only=True)
    except ClickHouseError as e:
        usage_error(f"cannot open ClickHouse at {clickhouse_where(settings)}: {e}")


def query(run: Callable[[ClickHouse], _T]) -> _T:
    """Run queries on the read models; a failure names its cause and what to do."""
    settings = current_settings()
    ch = open_reader(settings)
    try:
        return run(ch)
    except ClickHouseError as e:
        text = str(e)
        missing = "UNKNOWN_TABLE" in text or "doesn't exist" in text or "Unknown table" in text
        hint = " (run `hallwatch migrate` and `hallwatch project` first)" if missing else ""
        fail(f"query failed{hint}: {e}")
    finally:
        ch.close()


def kafka_servers(settings: Settings) -> str:
    """Bootstrap servers with hallwatch's topics in place: the configured cluster, or the
    local broker, started when it is not running."""
    from infra.broker import BrokerError
    from infra.kafka import bootstrap, ensure_hallwatch_topics

    try:
        servers = bootstrap(settings)
        ensure_hallwatch_topics(settings, servers)
    except BrokerError as e:
        usage_error(str(e))
    except Exception as e:
        usage_error(f"cannot reach Kafka at {settings.kafka_bootstrap or 'the local broker'}: {e}")
    return servers
