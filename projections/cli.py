"""``hallwatch migrate`` and ``hallwatch project [--rebuild] [--until-idle]``.

The commands read their ``Settings`` from the main CLI's context
(``click.get_current_context().obj.settings``); ``infra/cli.py`` registers them
with ``cli.add_command(migrate)`` and ``cli.add_command(project)``.

ClickHouse is ``Settings.clickhouse_target``: a server (``clickhouse://…``) or
the embedded chdb folder ``<data_dir>/clickhouse``. The embedded database has
ONE writer process, the projector (``hallwatch project``; ``hallwatch migrate``
is a writer too, for a moment): it holds the folder's write lease while it
runs. Every other process (queries, ``rank``, the dashboard) opens it
read-only, ``connect(target, read_only=True)`` / ``ChdbBackend(path,
read_only=True)``, and sees what the projector published about a second ago.
A projector killed with ``kill -9`` keeps the lease for ~15 s; its successor
waits for it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
import orjson
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from domain.views import ALERT_KINDS, VIOLATION_KINDS
from infra.cli_support import (
    FIRST_YEAR,
    LAST_YEAR,
    make_console,
    parse_as_of,
    print_json,
    printable,
    safe,
)
from infra.signals import stop_on_signals
from projections import kpi, queries
from projections.clickhouse import ClickHouse, ClickHouseError, connect
from projections.migrations import migrate as apply_migrations
from projections.runner import ProjectorStats, open_writer
from projections.runner import project as run_projector

if TYPE_CHECKING:
    from infra.settings import Settings

console = make_console()
err = make_console(stderr=True)
_T = TypeVar("_T")


def _settings() -> Settings:
    ctx = click.get_current_context()
    settings = getattr(ctx.obj, "settings", None)
    if settings is None:  # run alone: the environment, as the main CLI would read it
        from infra.settings import from_env

        settings = from_env()
    return settings


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {safe(message)}", highlight=False)
    sys.exit(code)


def _where(settings: Settings) -> str:
    return str(settings.clickhouse_target).split("@")[-1]


def run_migrate(settings: Settings) -> list[str]:
    """Apply the pending ClickHouse migrations; returns their names."""
    ch = open_writer(settings.clickhouse_target, on_wait=lambda m: err.print(f"waiting: {safe(m)}"))
    try:
        return apply_migrations(ch)
    finally:
        ch.close()


def run_project(settings: Settings, *, rebuild: bool, until_idle: bool) -> ProjectorStats:
    """Project the events topic; with ``rebuild``, from scratch behind a progress display
    (the total is unknown: end offsets are not to be relied on, so it counts up)."""
    stop = stop_on_signals()

    def on_error(e: Exception) -> None:
        err.print(f"project: {safe(e)}; retrying", highlight=False)

    def on_wait(message: str) -> None:
        err.print(f"project: {safe(message)}; waiting for the lease", highlight=False)

    err.print(
        f"project: {safe(settings.events_topic)} -> ClickHouse at {safe(_where(settings))}"
        + (" (rebuild)" if rebuild else ""),
        highlight=False,
    )
    if not rebuild:
        return run_projector(
            settings,
            until_idle=until_idle,
            stop=stop,
            on_error=on_error,
            on_wait=on_wait,
        )
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]rebuild[/]"),
        TextColumn("{task.completed:,.0f} events"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task("rebuild", total=None, rate="")

        def on_batch(s: ProjectorStats) -> None:
            progress.update(task, completed=s.messages, rate=f"{s.events_per_second:,.0f}/s")

        return run_projector(
            settings,
            rebuild=True,
            until_idle=until_idle,
            stop=stop,
            on_batch=on_batch,
            on_error=on_error,
            on_wait=on_wait,
        )


@click.command("migrate")
def migrate() -> None:
    """Create or update the ClickHouse read models (numbered migrations, each once)."""
    settings = _settings()
    try:
        names = run_migrate(settings)
    except ClickHouseError as e:
        _fail(str(e))
    if names:
        console.print(f"migrate: applied {safe(', '.join(names))}", highlight=False)
    else:
        console.print("migrate: up to date")


@click.command("project")
@click.option("--rebuild", is_flag=True, help="Drop every read model and project from scratch.")
@click.option("--until-idle", is_flag=True, help="Stop when nothing new arrives for a while.")
def project(rebuild: bool, until_idle: bool) -> None:
    """Project the events topic into the ClickHouse read models (the one writer)."""
    settings = _settings()
    try:
        stats = run_project(settings, rebuild=rebuild, until_idle=until_idle)
    except (ClickHouseError, TimeoutError) as e:
        _fail(str(e))
    rows = safe(", ".join(f"{t} {n:,}" for t, n in sorted(stats.rows.items()))) or "no rows"
    console.print(
        f"project: {stats.messages:,} messages, {stats.new_events:,} new events, "
        f"{stats.duplicates:,} duplicates, {stats.bad} unreadable; {rows}; "
        f"{stats.events_per_second:,.0f} events/s",
        highlight=False,
    )


# --------------------------------------------------------------------------- read commands


def open_reader(settings: Settings) -> ClickHouse:
    """A read-only ClickHouse for queries (any number of processes, beside the projector);
    a clear error when there is nothing to read yet."""
    target = settings.clickhouse_target
    if not isinstance(target, str) and not Path(target).exists():
        _fail(f"no read models at {target} yet: run `hallwatch project` first")
    try:
        return connect(target, read_only=True)
    except ClickHouseError as e:
        _fail(f"cannot open ClickHouse at {_where(settings)}: {e}")


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dates and times as ISO strings (times with their +08:00 offset)."""
    return orjson.loads(orjson.dumps(rows, default=str))  # type: ignore[no-any-return]


def _wide(width: int) -> Console:
    """Tables keep every column when piped (a terminal keeps its own width)."""
    return console if console.is_terminal else make_console(width=width)


def _pct(v: Any) -> str:
    return "—" if v is None else f"{100 * float(v):.1f}%"


def _num(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    return f"{v:,}" if isinstance(v, int) else f"{float(v):,.{digits}f}"


def _query(run: Callable[[ClickHouse], _T]) -> _T:
    settings = _settings()
    ch = open_reader(settings)
    try:
        return run(ch)
    except ClickHouseError as e:
        missing = (
            "UNKNOWN_TABLE" in str(e) or "doesn't exist" in str(e) or "Unknown table" in str(e)
        )
        hint = " (run `hallwatch migrate` and `hallwatch project` first)" if missing else ""
        _fail(f"query failed{hint}: {e}")
    finally:
        ch.close()


def parse_month(text: str, option: str = "--month") -> kpi.Month:
    """``--month``: YYYY-MM between FIRST_YEAR-01 and LAST_YEAR-12, else a usage error
    naming the option (year 0000 or 9999 would overflow the month's bounds)."""
    try:
        month = kpi.Month.parse(text)
    except (ValueError, OverflowError) as e:
        raise click.BadParameter(printable(e), param_hint=option) from None
    if not text.strip().isascii():  # int() reads full-width and other Unicode digits
        raise click.BadParameter(
            f"month {printable(repr(text))} is not YYYY-MM (e.g. 2026-10)", param_hint=option
        )
    if not FIRST_YEAR <= month.year <= LAST_YEAR:
        raise click.BadParameter(
            f"{month} is outside {FIRST_YEAR}-01 .. {LAST_YEAR}-12", param_hint=option
        )
    return month


@click.command("rank")
@click.option("--month", "month_text", required=True, help="The month, YYYY-MM (Asia/Shanghai).")
@click.option(
    "--by", "by", type=click.Choice(kpi.GROUPINGS), default="department", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="CONTRACTS §6: one object per group.")
def rank(month_text: str, by: kpi.Grouping, as_json: bool) -> None:
    """Monthly KPIs and ranking (效能评价) by department, town or item, best first."""
    month = parse_month(month_text)
    from infra.wiring import build_calendar  # paused cases are judged on working days

    calendar = build_calendar(_settings())
    rows = _query(lambda ch: kpi.rank(ch, month, by, calendar=calendar))
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{month} ranking by {safe(by)} (效能评价)", title_justify="left")
    for head in ("#", by, "score", "submitted", "concluded", "on time", "overdue", "online",
                 "fully online", "visits", "satisfied", "bad", "compl./1000", "warn", "red",
                 "viol."):  # fmt: skip
        table.add_column(head, justify="left" if head == by else "right")
    for r in rows:
        table.add_row(
            str(r["rank"]), safe(r["group"]), _num(r["score"]), _num(r["submitted"]),
            _num(r["concluded"]), _pct(r["on_time_rate"]), _pct(r["overdue_rate"]),
            _pct(r["online_rate"]), _pct(r["fully_online_rate"]), _num(r["avg_site_visits"], 2),
            _pct(r["satisfaction_rate"]), _num(r["bad_reviews"]),
            _num(r["complaints_per_1000"]), _num(r["warnings"]), _num(r["overdue_alerts"]),
            _num(r["violations"]),
        )  # fmt: skip
    _wide(170).print(table if rows else f"no activity in {month}")
    if rows:
        console.print(f"score: {kpi.SCORE_SUMMARY}; `--json` for every KPI", highlight=False)


@click.command("alerts")
@click.option("--open", "open_only", is_flag=True, help="Only alerts still unresolved.")
@click.option("--department", help="Only this department's.")
@click.option("--town", help="Only this town's.")
@click.option("--kind", type=click.Choice((*ALERT_KINDS, *VIOLATION_KINDS)), help="Only this kind.")
@click.option("--as-of", "as_of", help="As things stood then (date or date-time).")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def alerts(
    open_only: bool,
    department: str | None,
    town: str | None,
    kind: str | None,
    as_of: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Alerts (预警 yellow, 超时 red) and violations (违规), newest first."""
    when = parse_as_of(as_of)
    rows = _query(
        lambda ch: queries.alert_list(
            ch,
            as_of=when,
            open_only=open_only,
            department=department,
            town=town,
            kind=kind,
            limit=limit,
        )
    )
    if as_json:
        print_json(_jsonable(rows))
        return
    title = "open alerts" if open_only else "alerts"
    table = Table(title=f"{title}" + (f" as of {when:%Y-%m-%d %H:%M}" if when else ""))
    for head in ("raised", "kind", "subject", "step", "department", "town", "deadline", "open"):
        table.add_column(head)
    for r in rows:
        colour = (
            "red"
            if r["kind"] in ("case_overdue", "step_overdue")
            else ("yellow" if r["kind"] == "case_warning" else "magenta")
        )
        table.add_row(
            f"{r['raised_at']:%Y-%m-%d %H:%M}", f"[{colour}]{safe(r['kind'])}[/]",
            safe(r["subject"]), safe(r["step"]), safe(r["department"]), safe(r["town"]),
            safe(r["deadline"]),
            "yes" if r["open"] else "no",
        )  # fmt: skip
    _wide(150).print(table if rows else "no alerts")


@click.command("cases")
@click.option("--as-of", "as_of", help="As things stood then (date or date-time).")
@click.option("--department", help="Only this department's.")
@click.option("--town", help="Only this town's.")
@click.option("--item", "item_code", help="Only this item's.")
@click.option("--status", help="Only this status (in_progress, suspended, concluded…).")
@click.option("--open", "open_only", is_flag=True, help="Only cases not concluded or rejected.")
@click.option("--overdue", "overdue_only", is_flag=True, help="Only overdue cases (审批超时).")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def cases(
    as_of: str | None,
    department: str | None,
    town: str | None,
    item_code: str | None,
    status: str | None,
    open_only: bool,
    overdue_only: bool,
    limit: int,
    as_json: bool,
) -> None:
    """The case table (办件一览), most urgent first; now or as of a past time."""
    when = parse_as_of(as_of)
    rows = _query(
        lambda ch: queries.case_table(
            ch,
            as_of=when,
            department=department,
            town=town,
            item_code=item_code,
            status=status,
            open_only=open_only,
            overdue_only=overdue_only,
            limit=limit,
        )
    )
    if as_json:
        print_json(_jsonable(rows))
        return
    table = Table(title="cases" + (f" as of {when:%Y-%m-%d %H:%M}" if when else ""))
    for head in ("case", "receipt", "department", "town", "item", "status", "due", "flag"):
        table.add_column(head)
    for r in rows:
        flag = "[red]overdue[/]" if r["overdue"] else ("[yellow]warning[/]" if r["warning"] else "")
        table.add_row(
            safe(r["case_id"]), safe(r["receipt_no"]), safe(r["department"]), safe(r["town"]),
            safe(r["item_code"]), safe(r["status"]), safe(r["due_date"]), flag,
        )  # fmt: skip
    _wide(150).print(table if rows else "no cases")
