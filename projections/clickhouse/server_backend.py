"""A ClickHouse server over the native protocol (clickhouse-driver).

The answer for many readers or a large database; CI runs it against Debian's
clickhouse-server 18.16, so everything here must work there too (see
``projections.clickhouse.common``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID
from zoneinfo import ZoneInfo

from projections.clickhouse.common import (
    BackendBase,
    ClickHouseError,
    Insert,
    Prepared,
    check_rows,
    identifier,
    naive_as_local,
    statement,
    version_tuple,
)


def _server_value(v: Any) -> Any:
    """The driver's value, made identical to what chdb gives (zoneinfo zones, str UUIDs)."""
    if isinstance(v, datetime) and v.tzinfo is not None and not isinstance(v.tzinfo, ZoneInfo):
        return v.astimezone(ZoneInfo(str(getattr(v.tzinfo, "zone", None) or v.tzname())))
    if isinstance(v, list):
        return [_server_value(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_server_value(x) for x in v)
    if isinstance(v, UUID):
        return str(v)
    return v


def _needs_server_fix(type_name: str) -> bool:
    return "DateTime(" in type_name or "UUID" in type_name


class ServerBackend(BackendBase):
    """A ClickHouse server over the native protocol (clickhouse-driver).

    ``url``: ``clickhouse://user:password@host:9000/db`` (driver options as query
    parameters). The database is created when missing. ``read_only=True`` runs every
    statement with ``readonly=2``.
    """

    def __init__(self, url: str, read_only: bool = False) -> None:
        from clickhouse_driver import Client, errors

        self._errors: Any = errors
        self.url = url
        self.read_only = read_only
        self._lock = threading.RLock()
        parts = urlsplit(url)
        self.database = parts.path.strip("/") or "default"
        identifier(self.database)
        self._client: Any = Client.from_url(url)
        try:
            version = self._client.execute("SELECT version()")[0][0]
        except errors.ServerException as e:
            if e.code != 81:  # UNKNOWN_DATABASE
                raise ClickHouseError(f"ClickHouse at {self._where()}: {self._message(e)}") from e
            self._create_database(Client, parts)
            version = self._call(lambda: self._client.execute("SELECT version()"))[0][0]
        except (errors.Error, OSError, EOFError) as e:
            raise ClickHouseError(f"cannot reach ClickHouse at {self._where()}: {e}") from e
        self._version = version_tuple(str(version))
        settings: dict[str, Any] = {}
        if read_only:
            settings["readonly"] = 2
        if self._version < (19,):
            # LowCardinality is experimental on 18.x; newer servers neither need nor want this.
            settings["allow_experimental_low_cardinality_type"] = 1
        self._client.settings.update(settings)

    def _where(self) -> str:
        p = urlsplit(self.url)
        return f"{p.hostname}:{p.port or 9000}/{self.database}"

    def _create_database(self, client_cls: Any, parts: Any) -> None:
        admin = client_cls.from_url(urlunsplit(parts._replace(path="/default")))
        try:
            admin.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        except (self._errors.Error, OSError, EOFError) as e:
            raise ClickHouseError(
                f"cannot create database {self.database}: {self._message(e)}"
            ) from e
        finally:
            admin.disconnect()

    @staticmethod
    def _message(e: BaseException) -> str:
        text = str(e)
        return text.split("Stack trace:")[0].strip()

    def _call(self, fn: Callable[[], Any], sql: str = "") -> Any:
        with self._lock:
            try:
                return fn()
            except (self._errors.Error, OSError, EOFError) as e:
                suffix = f": {sql[:200]}" if sql else ""
                raise ClickHouseError(f"{self._message(e)}{suffix}") from e

    def execute(self, sql: str) -> None:
        text = statement(sql)
        self._call(lambda: self._client.execute(text), text)

    def prepare_inserts(self, inserts: Sequence[Insert]) -> Prepared:
        """The driver's native insert per table (``INSERT INTO t (cols) VALUES`` + the rows),
        naive datetimes given the Shanghai zone as chdb does; a server shows each as soon
        as it is written."""
        out = []
        for table, columns, rows in inserts:
            cols = check_rows(columns, rows)
            if rows:
                sql = f"INSERT INTO {identifier(table)} ({', '.join(cols)}) VALUES"
                out.append((sql, naive_as_local(rows, len(cols))))
        return Prepared(tuple(out))

    def insert_prepared(self, prepared: Prepared) -> None:
        for sql, data in prepared.statements:
            self._call(partial(self._client.execute, sql, data), sql)

    def _select(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        text = statement(sql)
        rows, types = self._call(lambda: self._client.execute(text, with_column_types=True), text)
        names = [n for n, _ in types]
        fix = [i for i, (_, t) in enumerate(types) if _needs_server_fix(t)]
        if fix:
            out = []
            for r in rows:
                lst = list(r)
                for i in fix:
                    lst[i] = _server_value(lst[i])
                out.append(tuple(lst))
            rows = out
        return names, rows

    def server_version(self) -> tuple[int, ...]:
        return self._version

    def close(self) -> None:
        with self._lock:
            self._client.disconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
