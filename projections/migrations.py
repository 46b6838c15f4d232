"""Numbered ClickHouse DDL files, applied in order, each exactly once.

``projections/migrations/NNNN_name.sql`` holds one or more statements, each
ending with a ``;`` at the end of a line (``--`` comment lines are fine).
``migrate(ch)`` applies the files not yet recorded in ``schema_migrations``
and records each (version, name, SHA-256 of the file, time) after its last
statement ran. ClickHouse DDL is not transactional: a file that fails halfway
is not recorded and is run again from its first statement, so write every
statement to be repeatable (``CREATE TABLE IF NOT EXISTS`` …). A file whose
content changed after it was applied is refused: the databases it already ran
on would silently differ from new ones.

Reading deduplicated data (``events`` and every other ReplacingMergeTree):
duplicates collapse only when ClickHouse merges parts, eventually and never
across partitions, so a query must not trust ``count()`` on the bare table.
Both chdb and 18.16 accept these, cheapest last:

* ``SELECT … FROM events FINAL WHERE …`` merges at read time (18.16 does it
  in one thread: fine for one stream or one month, slow for everything);
* ``SELECT uniqExact(event_id) FROM events`` for counts;
* ``SELECT event_id, any(type), … FROM events GROUP BY event_id`` (or
  ``argMax(col, recorded_at)`` when copies may differ) and
  ``… ORDER BY … LIMIT 1 BY event_id`` to pick one row per event.

Copies of one event share (stream_id, version, event_id), hence the sorting
key, and ``occurred_at``, hence the partition, so ``FINAL`` sees them together.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from projections.clickhouse import ClickHouse, ClickHouseError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
TABLE = "schema_migrations"
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql\Z")

CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime
)
ENGINE = ReplacingMergeTree()
ORDER BY version
"""


class MigrationError(ClickHouseError):
    """The migration files or the applied history are not what ``migrate`` can trust."""


@dataclass(frozen=True)
class Migration:
    """One DDL file: its number, name (the file's stem) and SHA-256."""

    version: int
    name: str
    path: Path
    checksum: str

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))


def split_statements(sql: str) -> list[str]:
    """Statements of a file: a line ending with ``;`` ends one; comment-only pieces are dropped."""
    out: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    out.append("\n".join(current))
    meaningful = []
    for stmt in out:
        code = [ln for ln in stmt.splitlines() if ln.strip() and not ln.strip().startswith("--")]
        if code:
            meaningful.append(stmt.strip())
    return meaningful


def discover(directory: Path | None = None) -> list[Migration]:
    """The migration files in version order; refuse misnamed files and repeated numbers."""
    folder = directory or MIGRATIONS_DIR
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        m = _FILE.match(path.name)
        if not m:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(
                f"migrations {found[version].path.name} and {path.name} share number {version}"
            )
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        found[version] = Migration(version, path.stem, path, checksum)
    return [found[v] for v in sorted(found)]


def applied(ch: ClickHouse) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of what this database has applied."""
    if not ch.query(f"EXISTS TABLE {TABLE}")[0][0]:
        return {}
    rows = ch.query(f"SELECT version, name, checksum FROM {TABLE} FINAL ORDER BY version")
    return {int(v): (str(n), str(c)) for v, n, c in rows}


def migrate(ch: ClickHouse, directory: Path | None = None) -> list[str]:
    """Apply the pending migrations in order; return their names (empty when up to date)."""
    migrations = discover(directory)
    done = applied(ch)
    for m in migrations:
        if m.version not in done:
            continue
        name, checksum = done[m.version]
        if name != m.name or checksum != m.checksum:
            raise MigrationError(
                f"migration {m.path.name} changed after it was applied (applied as {name}, "
                f"checksum {checksum[:12]}…, now {m.checksum[:12]}…): never edit an applied "
                "migration: add a new one"
            )
    pending = [m for m in migrations if m.version not in done]
    if not pending:
        return []
    if not done:
        ch.execute(CREATE_TABLE)
    names = []
    for m in pending:
        for stmt in m.statements():
            try:
                ch.execute(stmt)
            except ClickHouseError as e:
                raise MigrationError(f"migration {m.path.name} failed: {e}") from e
        now = datetime.now(UTC).replace(microsecond=0)
        ch.insert(
            TABLE,
            ["version", "name", "checksum", "applied_at"],
            [(m.version, m.name, m.checksum, now)],
        )
        names.append(m.name)
    return names
