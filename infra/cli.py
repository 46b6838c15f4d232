"""The ``hallwatch`` command line (CONTRACTS §4)."""

from __future__ import annotations

import base64
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from domain import clock
from domain.application import DUPLICATE, REFUSED, Hallwatch, Outcome
from domain.calendar import CalendarOverrideError
from domain.catalogue import CatalogueError, parse_catalogue, sample_catalogue_path
from domain.errors import DomainError
from domain.model import Case, Complaint, SupervisionOrder
from domain.privacy import redact_raw, scrub
from domain.views import applicant_view, case_view, complaint_view, order_view
from infra.cli_support import (
    make_console,
    open_private,
    parse_as_of,
    print_json,
    private_dir,
    safe,
)
from infra.settings import Settings, SettingsError, from_env
from infra.signals import stop_on_signals
from infra.tuning import tune_for_intake
from infra.wiring import open_app

console = make_console()
err = make_console(stderr=True)


@dataclass
class Ctx:
    settings: Settings


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {safe(message)}", highlight=False)
    sys.exit(code)


@contextmanager
def _app(ctx: Ctx) -> Iterator[Hallwatch]:
    try:
        app = open_app(ctx.settings)
    except (CalendarOverrideError, SettingsError) as e:
        _fail(str(e))
        raise
    except Exception as e:  # connection refused, unwritable folder …
        where = ctx.settings.database_url or str(ctx.settings.sqlite_path)
        _fail(f"cannot open the event store at {where}: {e}")
        raise
    try:
        yield app
    finally:
        app.close()


@click.group()
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Data folder (default ./.hallwatch)."
)
@click.option("--database-url", help="postgresql://… to use PostgreSQL instead of SQLite.")
@click.version_option(package_name="hallwatch")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, database_url: str | None) -> None:
    """hallwatch: case tracking and e-supervision for government service halls (电子监察)."""
    try:
        settings = from_env().with_overrides(data_dir=data_dir, database_url=database_url)
    except SettingsError as e:
        _fail(str(e))
    ctx.obj = Ctx(settings)


# --- catalogue ---------------------------------------------------------------------------


@cli.group()
def catalog() -> None:
    """The service catalogue (事项目录)."""


@catalog.command("load")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_obj
def catalog_load(ctx: Ctx, file: Path) -> None:
    """Load a catalogue CSV; refused rows are listed with line number and reason."""
    if str(file) == "sample":
        file = sample_catalogue_path()
    if not file.exists():
        _fail(f"catalogue file {file} does not exist")
    try:
        parsed = parse_catalogue(file)
    except CatalogueError as e:
        _fail(str(e))
    with _app(ctx) as app:
        result = app.load_catalogue(parsed, loaded_from=file.name)
    console.print(
        f"catalogue {safe(file)}: [green]{result.added} new item versions[/], "
        f"{result.unchanged} unchanged, [red]{len(result.refusals)} refused[/]"
    )
    if result.refusals:
        raw = {r.line: r.raw for r in parsed.refusals}
        out = _rejects_path(ctx.settings, file, None)
        with open_private(out) as f:
            for line, reason in result.refusals:
                f.write(
                    orjson.dumps(
                        {"file": str(file), "line": line, "reason": reason, "row": raw.get(line)}
                    )
                    + b"\n"
                )
        table = Table("line", "reason", title="refused rows")
        for line, reason in result.refusals:
            table.add_row(str(line), safe(reason))
        console.print(table)
        console.print(f"refused rows kept in {safe(out)}")
        sys.exit(1)


@catalog.command("show")
@click.argument("item_code", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def catalog_show(ctx: Ctx, item_code: str | None, as_json: bool) -> None:
    """List the catalogue, or every version of one item."""
    with _app(ctx) as app:
        cat = app.catalogue()
    versions = (
        cat.versions(item_code)
        if item_code
        else tuple(v for code in cat.codes() if (v := cat.latest(code)) is not None)
    )
    if item_code and not versions:
        _fail(f"unknown service item {item_code}")
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    table = Table("item", "name", "department", "category", "法定", "承诺", "steps", "from")
    for v in versions:
        table.add_row(
            safe(v.item_code),
            safe(v.item_name),
            safe(v.department),
            safe(v.category),
            str(v.statutory_days),
            str(v.promised_days),
            safe(";".join(f"{s.name}:{s.days}" for s in v.steps)),
            v.valid_from.isoformat(),
        )
    console.print(table)


# --- ingest ------------------------------------------------------------------------------


def _rejects_path(settings: Settings, source: Path, explicit: Path | None) -> Path:
    if explicit is not None:
        if not explicit.parent.exists():  # a folder we create is owner-only; yours stays yours
            private_dir(explicit.parent)
        return explicit
    private_dir(settings.rejects_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.rejects_dir / f"{source.stem or 'stdin'}-{stamp}.rejected.jsonl"


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


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@click.option(
    "--rejects",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where refused records go (default: the data folder's rejected/).",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), help="Records per transaction.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_obj
def ingest(ctx: Ctx, file: Path, rejects: Path | None, batch_size: int | None, quiet: bool) -> None:
    """Apply intake records (JSON Lines); exit 1 if any record was refused."""
    size = batch_size or ctx.settings.batch_size
    tune_for_intake()
    if str(file) != "-" and not file.exists():
        _fail(f"intake file {file} does not exist")
    stream: IO[bytes] = sys.stdin.buffer if str(file) == "-" else file.open("rb")
    total_bytes = 0 if str(file) == "-" else file.stat().st_size
    counts: Counter[tuple[str, str]] = Counter()
    reasons: Counter[str] = Counter()
    reject_file: IO[bytes] | None = None
    reject_path: Path | None = None
    started = time.perf_counter()
    n_records = 0
    with (
        _app(ctx) as app,
        Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[records]} records"),
            TimeRemainingColumn(),
            console=err,
            disable=quiet,
            transient=False,
        ) as progress,
    ):
        task = progress.add_task(f"ingest {safe(file.name)}", total=total_bytes or None, records=0)
        batch: list[tuple[int, bytes]] = []

        def flush() -> None:
            nonlocal reject_file, reject_path
            outcomes = app.ingest([raw for _, raw in batch])
            for (line, raw), outcome in zip(batch, outcomes, strict=True):
                counts[(outcome.kind or "?", outcome.status)] += 1
                if outcome.status == REFUSED:
                    reasons[scrub(outcome.reason or "", raw)[:120]] += 1
                    if reject_file is None:
                        reject_path = _rejects_path(ctx.settings, file, rejects)
                        reject_file = open_private(reject_path)
                    reject_file.write(_reject_line(str(file), line, raw, outcome))
            progress.update(task, advance=sum(len(raw) + 1 for _, raw in batch), records=n_records)
            batch.clear()

        try:
            for line, raw in _lines(stream):
                batch.append((line, raw))
                n_records += 1
                if len(batch) >= size:
                    flush()
            if batch:
                flush()
        finally:
            if reject_file is not None:
                reject_file.close()
            if stream is not sys.stdin.buffer:
                stream.close()
    elapsed = time.perf_counter() - started
    _print_ingest_summary(file, counts, reasons, n_records, elapsed)
    anchored = _anchor(ctx, "ingest")
    refused = sum(v for (_, status), v in counts.items() if status == REFUSED)
    if not anchored:
        sys.exit(1)
    if refused:
        console.print(
            f"[red]{refused} records refused[/]; kept with their reasons in {safe(reject_path)}"
        )
        sys.exit(1)


def _anchor(ctx: Ctx, writer: str) -> bool:
    """Sign a checkpoint of the store (docs/tamper-evidence.md); False when it does not verify."""
    from domain.checkpoint import CheckpointRefused
    from infra.anchors import Anchoring

    with _app(ctx) as app:
        try:
            cp = Anchoring(app, ctx.settings, writer).checkpoint()
        except SettingsError as e:
            _fail(str(e))
            raise
        except CheckpointRefused as e:
            console.print(f"[bold red]TAMPERED[/]: {safe(e)}", highlight=False)
            return False
    if cp is not None:
        console.print(
            f"checkpoint #{cp.position} signed and appended to {safe(ctx.settings.anchor_file)}",
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


# --- lookups ----------------------------------------------------------------------------


def _now_or(as_of: datetime | None) -> datetime:
    return as_of or datetime.now(UTC).astimezone(clock.SHANGHAI)


@cli.command("case")
@click.argument("ref")
@click.option("--as-of", "as_of", help="Show the case as it stood then (date or date-time).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--query-code",
    "show_code",
    is_flag=True,
    help="Print the applicant's query code (查询码) for a hall operator.",
)
@click.pass_obj
def case_cmd(ctx: Ctx, ref: str, as_of: str | None, as_json: bool, show_code: bool) -> None:
    """A case by case_id or receipt number, with its flags and whole history."""
    when = parse_as_of(as_of)
    now = _now_or(when)
    with _app(ctx) as app:
        try:
            sids = app.find_cases(ref)
        except DomainError as e:
            _fail(e.reason, 1)
        views = []
        for sid in sids:
            agg, events = app.as_of(sid, when)
            if not isinstance(agg, Case):
                _fail(f"case {ref} did not exist yet at {now.isoformat()}", 1)
            assert isinstance(agg, Case)
            views.append(case_view(agg, events, now))
            if show_code and agg.receipt_no:
                views[-1]["query_code_note"] = (
                    "the hall's own code applies when one was sent; otherwise: "
                    + app.derived_query_code(agg.receipt_no)
                )
    if as_json:
        print_json(views[0] if len(views) == 1 else {"receipt_no": ref, "cases": views})
        return
    for v in views:
        _print_case(v)


def _print_case(v: dict[str, Any]) -> None:
    head = Table.grid(padding=(0, 2))
    for label, key in (
        ("case", "case_id"),
        ("receipt", "receipt_no"),
        ("item", "item_name"),
        ("department", "department"),
        ("town", "town"),
        ("status", "status"),
        ("accepted", "accepted_at"),
        ("due date", "due_date"),
        ("legal due date", "legal_due_date"),
        ("warning from", "warn_at"),
        ("outcome", "outcome"),
        ("concluded", "concluded_at"),
    ):
        if v.get(key) is not None:
            head.add_row(f"[bold]{label}", safe(v[key]))
    head.add_row("[bold]overdue", "[red]yes" if v["overdue"] else "no")
    flags = safe(", ".join(v["flags"])) or "none"
    head.add_row("[bold]flags", f"[yellow]{flags}" if v["flags"] else flags)
    console.print(head)
    steps = Table("step", "days", "started", "due", "completed", "decision", "handler")
    for s in v["steps"]:
        style = "red" if s["overdue"] else ""
        steps.add_row(
            safe(s["step"]),
            safe(s["days"]),
            safe(s["started_on"]),
            safe(s["due_date"]),
            safe(s["completed_on"]),
            safe(s["decision"]),
            safe(s["handler"]),
            style=style,
        )
    console.print(steps)
    hist = Table(
        "v", "type", "occurred", "recorded", "detail", title=f"history as of {safe(v['as_of'])}"
    )
    for e in v["events"]:
        detail = ", ".join(
            f"{k}={val}" for k, val in e["data"].items() if val not in (None, "", ())
        )
        style = "yellow" if e["type"].endswith("violation_flagged") else ""
        hist.add_row(
            str(e["version"]),
            safe(e["type"]),
            safe(e["occurred_at"]),
            safe(e["recorded_at"]),
            safe(detail[:90]),
            style=style,
        )
    console.print(hist)


@cli.command()
@click.argument("receipt_no")
@click.argument("query_code")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def track(ctx: Ctx, receipt_no: str, query_code: str, as_json: bool) -> None:
    """What an applicant sees: status and expected completion, by receipt number and query code."""
    with _app(ctx) as app:
        try:
            sids = app.find_cases(receipt_no)
        except DomainError:
            _fail("no case with that receipt number and query code", 1)
        now = _now_or(None)
        views = []
        for sid in sids:
            agg, events = app.as_of(sid, None)
            if not isinstance(agg, Case) or not app.query_code_matches(agg, query_code):
                _fail("no case with that receipt number and query code", 1)
            assert isinstance(agg, Case)
            views.append(applicant_view(agg, events, now))
    if as_json:
        print_json(views[0] if len(views) == 1 else views)
        return
    for v in views:
        console.print(
            f"[bold]{safe(v['item_name'])}[/] ({safe(v['department'])}): {safe(v['status'])}, "
            f"expected completion {safe(v['expected_completion'])}"
        )
        for h in v["history"]:
            console.print(f"  {safe(h['occurred_at'])}  {safe(h['type'])}")


@cli.command()
@click.argument("ref")
@click.option("--as-of", "as_of")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def complaint(ctx: Ctx, ref: str, as_of: str | None, as_json: bool) -> None:
    """A complaint (投诉) by complaint_id, with its deadlines and history."""
    when = parse_as_of(as_of)
    with _app(ctx) as app:
        try:
            c = app.get_complaint(ref)
        except DomainError as e:
            _fail(e.reason, 1)
        agg, events = app.as_of(c.id, when)
    if not isinstance(agg, Complaint):
        _fail(f"complaint {ref} was not filed yet then", 1)
    assert isinstance(agg, Complaint)
    view = complaint_view(agg, events, _now_or(when))
    if as_json:
        print_json(view)
        return
    console.print(
        f"[bold]complaint {safe(view['complaint_id'])}[/] about "
        f"{safe(view['case_id'] or view['department'])}: {safe(view['status'])}; "
        f"flags: {safe(', '.join(view['flags'])) or 'none'}"
    )
    for ev in view["events"]:
        console.print(f"  {safe(ev['occurred_at'])}  {safe(ev['type'])}")


@cli.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def order(ctx: Ctx, ref: str, as_json: bool) -> None:
    """A supervision order (督办单) by order_id."""
    with _app(ctx) as app:
        try:
            o = app.get_order(ref)
        except DomainError as e:
            _fail(e.reason, 1)
        agg, events = app.as_of(o.id, None)
    assert isinstance(agg, SupervisionOrder)
    view = order_view(agg, events, _now_or(None))
    if as_json:
        print_json(view)
        return
    console.print(
        f"[bold]order {safe(view['order_id'])}[/] by {safe(view['inspector'])} to "
        f"{safe(view['department'])}: {safe(view['status'])}, due {safe(view['due_date'])}; "
        f"flags: {safe(', '.join(view['flags'])) or 'none'}"
    )


# --- tamper evidence ---------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--checkpoint",
    "write_checkpoint",
    is_flag=True,
    help="After a clean check, sign a checkpoint and append it to the anchor file.",
)
@click.option(
    "--anchors",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Anchor file to check against (default HALLWATCH_ANCHOR_FILE, <data>/anchors.jsonl).",
)
@click.option(
    "--public-key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A pinned copy of the checkpoints' public key (default HALLWATCH_VERIFY_KEY_FILE).",
)
@click.option(
    "--against-topic", is_flag=True, help="Also hold the store against the events topic."
)
@click.option(
    "--topic-idle",
    type=click.FloatRange(0.5, 600),
    default=5.0,
    show_default=True,
    help="Seconds without a message after which the topic counts as read.",
)
@click.pass_obj
def verify(
    ctx: Ctx,
    as_json: bool,
    write_checkpoint: bool = False,
    anchors: Path | None = None,
    public_key: Path | None = None,
    against_topic: bool = False,
    topic_idle: float = 5.0,
) -> None:
    """Check every keyed hash chain, the notification sequence and every signed checkpoint;
    exit 1 naming the first bad event or missing range (docs/tamper-evidence.md)."""
    from domain.checkpoint import CheckpointRefused
    from infra.anchors import Anchoring, verify_store

    settings = ctx.settings.with_overrides(anchor_path=anchors, verify_key_file=public_key)
    topic_events: list[dict[str, Any]] | None = None
    if against_topic:
        from infra.kafka import consumer
        from streams.tail import TailFilter, tail_events

        servers = _kafka(ctx)
        try:
            topic_events = list(
                tail_events(
                    lambda: consumer(servers, None),
                    settings.events_topic,
                    TailFilter(),
                    follow=False,
                    idle_seconds=topic_idle,
                )
            )
        except Exception as e:
            _fail(f"cannot read the events topic {settings.events_topic} on {servers}: {e}")

    def progress(n: int) -> None:
        if n % 100_000 == 0:
            err.print(f"verify: {n:,} events checked", highlight=False)

    started = time.perf_counter()
    written = None
    refused: str | None = None
    with _app(ctx) as app:
        try:
            report = verify_store(app, settings, topic_events=topic_events, progress=progress)
        except SettingsError as e:
            _fail(str(e))
            raise
        if write_checkpoint and report.ok:
            anchoring = Anchoring(app, settings, "verify")
            try:
                written = anchoring.checkpoint()
            except CheckpointRefused as e:
                refused = str(e)
    elapsed = time.perf_counter() - started
    first = report.first
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "events": report.events,
                "streams": report.streams,
                "last_notification_id": report.last_id,
                "anchor_file": report.anchor_file,
                "public_key": report.key_source,
                "checkpoints_checked": report.checkpoints,
                "topic_events": report.topic_events,
                "topic_checkpoints": report.topic_checkpoints,
                "first": first.as_dict() if first else None,
                "problems": [b.as_dict() for b in report.problems],
                "anchor_problems": report.anchor_problems,
                "notes": report.notes,
                "checkpoint_written": None
                if written is None
                else {"position": written.position, "events": written.events},
                "checkpoint_refused": refused,
                "seconds": round(elapsed, 3),
            }
        )
    else:
        for note in report.notes:
            err.print(f"[yellow]note:[/] {safe(note)}", highlight=False)
        if report.ok:
            rate = report.events / elapsed if elapsed > 0 else 0.0
            topic = (
                f", {report.topic_events:,} published events match the topic"
                if report.topic_events is not None
                else ""
            )
            console.print(
                f"[green]ok[/]: {report.events:,} events in {report.streams:,} streams "
                f"(#1..#{report.last_id}): every hash chain intact (keyed), no gap, "
                f"{report.checkpoints} signed checkpoints hold{topic} "
                f"({elapsed:.1f} s, {rate:,.0f} events/s)",
                highlight=False,
            )
        for problem in report.anchor_problems:
            console.print(f"[bold red]TAMPERED[/]: {safe(problem)}", highlight=False)
        if first is not None:
            label = "first bad event " if first.stream_id is not None else ""
            console.print(
                f"[bold red]TAMPERED[/]: {label}{safe(first.describe())}", highlight=False
            )
            for b in [b for b in report.problems if b is not first][:9]:
                console.print(f"  also {safe(b.describe())}", highlight=False)
            if len(report.problems) > 1:
                console.print(f"{len(report.problems)} problems in all", highlight=False)
        if written is not None:
            console.print(
                f"checkpoint #{written.position} ({written.events:,} events) signed and "
                f"appended to {safe(settings.anchor_file)}",
                highlight=False,
            )
        if refused is not None:
            console.print(f"[bold red]TAMPERED[/]: {safe(refused)}", highlight=False)
    if not report.ok or refused is not None:
        sys.exit(1)


# --- Kafka: relay, intake, tail ------------------------------------------------------------


def _kafka(ctx: Ctx) -> str:
    from infra.broker import BrokerError
    from infra.kafka import bootstrap, ensure_hallwatch_topics

    try:
        servers = bootstrap(ctx.settings)
        ensure_hallwatch_topics(ctx.settings, servers)
    except BrokerError as e:
        _fail(str(e))
        raise
    except Exception as e:
        _fail(f"cannot reach Kafka at {ctx.settings.kafka_bootstrap or 'the local broker'}: {e}")
        raise
    return servers


@cli.command()
@click.option("--until-idle", is_flag=True, help="Stop once every stored event is published.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option(
    "--checkpoint-every",
    type=click.FloatRange(1, 86_400),
    default=60.0,
    show_default=True,
    help="Seconds between signed checkpoints (one is also made at the end of a run).",
)
@click.pass_obj
def relay(ctx: Ctx, until_idle: bool, batch_size: int, checkpoint_every: float = 60.0) -> None:
    """Publish every stored event to the events topic as a CloudEvent (outbox relay)."""
    from infra.anchors import Anchoring, relay_checkpointer
    from infra.kafka import producer
    from streams.relay import OutboxRelay, UnpublishableEvent

    servers = _kafka(ctx)
    stop = stop_on_signals()
    with _app(ctx) as app:
        try:
            anchoring = Anchoring(app, ctx.settings, "relay")
        except SettingsError as e:
            _fail(str(e))
            raise
        r = OutboxRelay(
            app.recorder,
            lambda: producer(servers),
            topic=ctx.settings.events_topic,
            source=ctx.settings.hall,
            batch_size=batch_size,
            checkpointer=relay_checkpointer(anchoring),
            checkpoint_every=checkpoint_every,
        )
        err.print(
            f"relay: {ctx.settings.events_topic} on {servers}, from position {r.stats.position}"
        )
        try:
            stats = r.run(
                stop,
                until_idle=until_idle,
                on_error=lambda e: err.print(f"relay: {safe(e)}; retrying"),
            )
        except UnpublishableEvent as e:
            _fail(f"relay stopped: {e}", code=1)
            raise
        finally:
            close = getattr(r.producer, "close", None)
            if close is not None:
                close(timeout=10)
    console.print(
        f"relay: {stats.published} events published, position {stats.position}, "
        f"{stats.checkpoints} signed checkpoints"
    )


@cli.command()
@click.option("--until-idle", is_flag=True, help="Stop when the intake topic has nothing new.")
@click.option("--group", default="hallwatch-intake", show_default=True)
@click.pass_obj
def intake(ctx: Ctx, until_idle: bool, group: str) -> None:
    """Apply intake records from the intake topic; refused ones go to the dead-letter topic."""
    from infra.kafka import consumer, producer
    from streams.intake import KafkaIntake, NoAssignment

    servers = _kafka(ctx)
    tune_for_intake()
    stop = stop_on_signals()
    with _app(ctx) as app:
        cons = consumer(servers, group, ctx.settings.intake_topic)
        dlq = producer(servers)
        worker = KafkaIntake(
            app,
            cons,
            dlq,
            dead_letter_topic=ctx.settings.dead_letter_topic,
            max_records=ctx.settings.batch_size,
        )
        err.print(
            f"intake: {ctx.settings.intake_topic} -> event store; refused -> "
            f"{ctx.settings.dead_letter_topic}"
        )
        try:
            stats = worker.run(
                stop,
                until_idle=until_idle,
                on_error=lambda e: err.print(f"intake: {safe(e)}; retrying"),
            )
        except NoAssignment as e:
            _fail(f"intake: {e}", code=1)
            raise
        finally:
            cons.close()  # leaves the group, so the next member gets the partitions at once
            dlq.close(timeout=10)
    console.print(
        f"intake: {stats.applied} applied, {stats.duplicates} duplicates, "
        f"{stats.refused} refused (dead-lettered, {stats.unapplicable} of them because "
        f"they could not be applied)"
    )


@cli.command()
@click.option("--case", "subject", help="Only events of this case, complaint or order id.")
@click.option("--type", "type_contains", help="Only event types containing this, e.g. violation.")
@click.option("--department", help="Only events of this department.")
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new events.")
@click.option("--limit", type=int, help="Stop after this many events.")
@click.option("--json", "as_json", is_flag=True, help="Print whole CloudEvents, one per line.")
@click.pass_obj
def tail(
    ctx: Ctx,
    subject: str | None,
    type_contains: str | None,
    department: str | None,
    follow: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    """Print events from the events topic (for operators)."""
    from infra.kafka import consumer
    from streams.tail import TailFilter, format_line, tail_events

    servers = _kafka(ctx)
    flt = TailFilter(subject=subject, type_contains=type_contains, department=department)
    for event in tail_events(
        lambda: consumer(servers, None), ctx.settings.events_topic, flt, follow=follow, limit=limit
    ):
        if as_json:
            sys.stdout.write(orjson.dumps(event).decode() + "\n")
        else:
            console.print(safe(format_line(event)), highlight=False)


# --- alerting -----------------------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, help="One tick: raise what is due now, then stop.")
@click.pass_obj
def alert(ctx: Ctx, once: bool) -> None:
    """Raise every alert the moment its deadline passes (yellow warning, red overdue…)."""
    from projections.alerter import Alerter

    stop = stop_on_signals()
    with _app(ctx) as app:
        alerter = Alerter(app)
        if once:
            alerter.start()
            alerter.tick()
        else:
            err.print(
                f"alert: watching {ctx.settings.backend} store, tick "
                f"{ctx.settings.alert_tick_seconds}s"
            )
            alerter.run(stop, tick_seconds=ctx.settings.alert_tick_seconds)
        stats = alerter.stats
    console.print(f"alert: {stats.raised} alerts raised, {stats.scheduled} deadlines scheduled")


@cli.command()
@click.pass_context
def demo(click_ctx: click.Context) -> None:
    """The whole path on the sample: catalogue, records, a flagged case, the hash chains,
    the alerts due by now, the events topic, ClickHouse, the March ranking, open alerts."""
    ctx: Ctx = click_ctx.obj
    from infra.broker import LocalBroker
    from infra.kafka import broker_config
    from infra.samples import sample_records_path
    from projections.cli import alerts, project, rank

    with _app(ctx) as app:
        parsed = parse_catalogue(sample_catalogue_path())
        loaded = app.load_catalogue(parsed, loaded_from="sample catalogue")
        console.print(
            f"[bold]1. catalogue[/]: {loaded.added} new item versions, "
            f"{loaded.unchanged} already loaded"
        )
    console.print("[bold]2. ingest the sample intake records[/]")
    try:
        click_ctx.invoke(
            ingest, file=sample_records_path(), rejects=None, batch_size=None, quiet=True
        )
    except SystemExit as e:
        if e.code not in (0, None):
            _fail("the sample records were refused in part; see above")
    with _app(ctx) as app:
        pick = _interesting_case(app)
    console.print(f"[bold]3. a case with supervision flags[/]: hallwatch case {safe(pick)}")
    click_ctx.invoke(case_cmd, ref=pick, as_of=None, as_json=False, show_code=False)
    console.print("[bold]4. hallwatch verify[/]")
    click_ctx.invoke(verify, as_json=False)
    console.print("[bold]5. hallwatch alert --once[/]: every alert due by now, recorded as events")
    click_ctx.invoke(alert, once=True)
    local = None if ctx.settings.kafka_bootstrap else LocalBroker(broker_config(ctx.settings))
    started_broker = local is not None and not local.status()["running"]
    try:
        console.print("[bold]6. hallwatch relay --until-idle[/]: every event to the events topic")
        click_ctx.invoke(relay, until_idle=True, batch_size=2000)
        console.print("[bold]7. hallwatch project --until-idle[/]: the topic into ClickHouse")
        click_ctx.invoke(project, rebuild=False, until_idle=True)
    finally:
        if started_broker and local is not None:
            local.stop()
    console.print(f"[bold]8. hallwatch rank --month {DEMO_MONTH}[/]")
    click_ctx.invoke(rank, month_text=DEMO_MONTH, by="department", as_json=False)
    console.print("[bold]9. hallwatch alerts --open --limit 10[/]")
    click_ctx.invoke(
        alerts, open_only=True, department=None, town=None, kind=None, as_of=None, limit=10,
        as_json=False,
    )  # fmt: skip
    if started_broker:
        console.print("(the demo stopped the local broker it started: hallwatch broker start)")


#: The month the sample intake records cover.
DEMO_MONTH = "2026-03"


def _interesting_case(app: Hallwatch) -> str:
    """The case with the most violation flags in the store, for the demo."""
    best: tuple[int, str] = (-1, "")
    for _, sid, version, topic, _state in app.stored_rows():
        if topic.endswith("Case.ViolationFlagged"):
            agg = app._load(sid)
            if isinstance(agg, Case):
                score = len({v["violation"] for v in agg.violations}) * 100 + agg.version
                best = max(best, (score, agg.case_id))
        del version
    if not best[1]:
        _fail("no case with violations in the store")
    return best[1]


def _register_commands() -> None:
    """Command groups that live beside their code (broker in infra, projections)."""
    from infra.broker_cli import broker
    from projections.cli import alerts, cases, migrate, project, rank

    cli.add_command(broker)
    for command in (migrate, project, rank, alerts, cases):
        cli.add_command(command)


_register_commands()


def main() -> None:
    cli(prog_name="hallwatch")


if __name__ == "__main__":
    main()
