"""``hallwatch ingest FILE``: apply intake records (JSON Lines) with a progress bar.

A summary per kind, the refusal reasons, and every refused line kept (redacted)
in a reject file; exit 1 when any record was refused (docs/intake.md).
"""

from __future__ import annotations

import base64
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from domain.application import DUPLICATE, REFUSED, Hallwatch, Outcome
from domain.privacy import redact_raw, scrub
from infra.cli.context import current_settings, open_store
from infra.cli.files import open_private, rejects_path
from infra.cli.output import EXIT_REFUSED, console, err, safe, usage_error
from infra.settings import Settings, SettingsError
from infra.tuning import tune_for_intake


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for n, line in enumerate(stream, start=1):
        stripped = line.strip()
        if stripped:
            yield n, stripped


def _reject_line(file: str, line: int, raw: bytes, outcome: Outcome) -> bytes:
    """One reject-file line: the record with its applicant id and query code redacted
    and the name masked (also when it does not parse), and a reason that does not
    quote them either (PIPL)."""
    entry: dict[str, Any] = {
        "file": file,
        "line": line,
        "reason": scrub(outcome.reason or "", raw),
        "record_id": outcome.record_id,
        "kind": outcome.kind,
    }
    redacted = redact_raw(raw)
    try:
        entry["record"] = redacted.decode("utf-8")
    except UnicodeDecodeError:
        entry["record_base64"] = base64.b64encode(redacted).decode()
    return orjson.dumps(entry) + b"\n"


class _Refusals:
    """Counts per kind and status, the refusal reasons, and the reject file (opened at
    the first refused record)."""

    def __init__(self, settings: Settings, file: Path, explicit: Path | None) -> None:
        self.settings, self.file, self.explicit = settings, file, explicit
        self.counts: Counter[tuple[str, str]] = Counter()
        self.reasons: Counter[str] = Counter()
        self.path: Path | None = None
        self._out: IO[bytes] | None = None

    def note(self, line: int, raw: bytes, outcome: Outcome) -> None:
        self.counts[(outcome.kind or "?", outcome.status)] += 1
        if outcome.status != REFUSED:
            return
        self.reasons[scrub(outcome.reason or "", raw)[:120]] += 1
        if self._out is None:
            self.path = rejects_path(self.settings, self.file, self.explicit)
            self._out = open_private(self.path)
        self._out.write(_reject_line(str(self.file), line, raw, outcome))

    @property
    def refused(self) -> int:
        return sum(v for (_, status), v in self.counts.items() if status == REFUSED)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


def _apply_file(
    app: Hallwatch, stream: IO[bytes], size: int, notes: _Refusals, progress: Progress
) -> int:
    """Apply the records of ``stream`` in batches of ``size``; returns how many were read."""
    task = progress.add_task(
        f"ingest {safe(notes.file.name)}",
        total=0 if str(notes.file) == "-" else notes.file.stat().st_size or None,
        records=0,
    )
    batch: list[tuple[int, bytes]] = []
    n = 0

    def flush() -> None:
        for (line, raw), outcome in zip(batch, app.ingest([r for _, r in batch]), strict=True):
            notes.note(line, raw, outcome)
        progress.update(task, advance=sum(len(raw) + 1 for _, raw in batch), records=n)
        batch.clear()

    for line, raw in _lines(stream):
        batch.append((line, raw))
        n += 1
        if len(batch) >= size:
            flush()
    if batch:
        flush()
    return n


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@click.option(
    "--rejects",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where refused records go (default: the data folder's rejected/).",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), help="Records per transaction.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def ingest(file: Path, rejects: Path | None, batch_size: int | None, quiet: bool) -> None:
    """Apply intake records (JSON Lines); exit 1 if any record was refused."""
    settings = current_settings()
    tune_for_intake()
    if str(file) != "-" and not file.exists():
        usage_error(f"intake file {file} does not exist")
    stream: IO[bytes] = sys.stdin.buffer if str(file) == "-" else file.open("rb")
    notes = _Refusals(settings, file, rejects)
    started = time.perf_counter()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[records]} records"),
        TimeRemainingColumn(),
    )
    try:
        with (
            open_store(settings) as app,
            Progress(*columns, console=err, disable=quiet, transient=False) as progress,
        ):
            n = _apply_file(app, stream, batch_size or settings.batch_size, notes, progress)
    finally:
        notes.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    _print_ingest_summary(file, notes.counts, notes.reasons, n, time.perf_counter() - started)
    if not anchor(settings, "ingest"):
        sys.exit(EXIT_REFUSED)
    if notes.refused:
        console.print(
            f"[red]{notes.refused} records refused[/]; kept with their reasons in "
            f"{safe(notes.path)}"
        )
        sys.exit(EXIT_REFUSED)


def anchor(settings: Settings, writer: str) -> bool:
    """Sign a checkpoint of the store (docs/tamper-evidence.md); False when it does not verify."""
    from domain.checkpoint import CheckpointRefused
    from infra.anchors import Anchoring

    with open_store(settings) as app:
        try:
            cp = Anchoring(app, settings, writer).checkpoint()
        except SettingsError as e:
            usage_error(str(e))
        except CheckpointRefused as e:
            console.print(f"[bold red]TAMPERED[/]: {safe(e)}", highlight=False)
            return False
    if cp is not None:
        console.print(
            f"checkpoint #{cp.position} signed and appended to {safe(settings.anchor_file)}",
            highlight=False,
        )
    return True


def _print_ingest_summary(
    file: Path, counts: Counter[tuple[str, str]], reasons: Counter[str], n: int, elapsed: float
) -> None:
    kinds = sorted({k for k, _ in counts})
    table = Table("kind", "applied", "duplicate", "refused", title=f"ingest {safe(file)}")
    tot = Counter[str]()
    for k in kinds:
        row = [counts[(k, s)] for s in ("applied", DUPLICATE, REFUSED)]
        for s, v in zip(("applied", DUPLICATE, REFUSED), row, strict=True):
            tot[s] += v
        table.add_row(safe(k), *(str(v) for v in row))
    table.add_row("[bold]total", *(f"[bold]{tot[s]}" for s in ("applied", DUPLICATE, REFUSED)))
    console.print(table)
    rate = n / elapsed if elapsed > 0 else 0.0
    console.print(f"{n} records in {elapsed:.2f} s ({rate:,.0f} records/s)")
    if reasons:
        rt = Table("count", "reason", title="refusal reasons")
        for reason, c in reasons.most_common(10):
            rt.add_row(str(c), safe(reason))
        console.print(rt)
