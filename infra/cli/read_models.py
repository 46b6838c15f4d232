"""``hallwatch migrate|project|rank|alerts|cases``: the ClickHouse read models.

``project`` is the one writer of the embedded chdb folder (docs/decisions/
0001-chdb-single-writer.md); every other command opens it read-only and sees
what the projector published about a second ago.
"""

from __future__ import annotations

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from domain.vocabulary import ALERT_KINDS, VIOLATION_KINDS, AlertKind
from infra.cli.context import clickhouse_where, current_settings, query
from infra.cli.options import parse_as_of, parse_month
from infra.cli.output import console, err, fail, jsonable, num, pct, print_json, safe, wide
from infra.logs import configure_worker_logging
from infra.projecting import project as run_projector
from infra.settings import Settings
from infra.signals import stop_on_signals
from infra.wiring import build_calendar
from projections import kpi, queries
from projections.clickhouse import ClickHouseError
from projections.migrations import migrate as apply_migrations
from projections.runner import ProjectorStats, open_writer

#: The colour of an alert on the terminal: its card (yellow warning, red overdue).
_CARD_COLOUR = {kind.value: kind.card.value for kind in AlertKind}


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

    where = safe(clickhouse_where(settings))
    err.print(
        f"project: {safe(settings.events_topic)} -> ClickHouse at {where}"
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
    settings = current_settings()
    try:
        names = run_migrate(settings)
    except ClickHouseError as e:
        fail(str(e))
    if names:
        console.print(f"migrate: applied {safe(', '.join(names))}", highlight=False)
    else:
        console.print("migrate: up to date")


@click.command("project")
@click.option("--rebuild", is_flag=True, help="Drop every read model and project from scratch.")
@click.option("--until-idle", is_flag=True, help="Stop when nothing new arrives for a while.")
def project(rebuild: bool, until_idle: bool) -> None:
    """Project the events topic into the ClickHouse read models (the one writer)."""
    settings = current_settings()
    configure_worker_logging(settings)
    try:
        stats = run_project(settings, rebuild=rebuild, until_idle=until_idle)
    except (ClickHouseError, TimeoutError) as e:
        fail(str(e))
    rows = safe(", ".join(f"{t} {n:,}" for t, n in sorted(stats.rows.items()))) or "no rows"
    console.print(
        f"project: {stats.messages:,} messages, {stats.new_events:,} new events, "
        f"{stats.duplicates:,} duplicates, {stats.bad} unreadable; {rows}; "
        f"{stats.events_per_second:,.0f} events/s",
        highlight=False,
    )


@click.command("rank")
@click.option("--month", "month_text", required=True, help="The month, YYYY-MM (Asia/Shanghai).")
@click.option(
    "--by", "by", type=click.Choice(kpi.GROUPINGS), default="department", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="docs/contracts.md §6: one object per group.")
def rank(month_text: str, by: kpi.Grouping, as_json: bool) -> None:
    """Monthly KPIs and ranking (效能评价) by department, town or item, best first."""
    month = parse_month(month_text)
    calendar = build_calendar(current_settings())  # paused cases are judged on working days
    rows = query(lambda ch: kpi.rank(ch, month, by, calendar=calendar))
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
            str(r["rank"]), safe(r["group"]), num(r["score"]), num(r["submitted"]),
            num(r["concluded"]), pct(r["on_time_rate"]), pct(r["overdue_rate"]),
            pct(r["online_rate"]), pct(r["fully_online_rate"]), num(r["avg_site_visits"], 2),
            pct(r["satisfaction_rate"]), num(r["bad_reviews"]),
            num(r["complaints_per_1000"]), num(r["warnings"]), num(r["overdue_alerts"]),
            num(r["violations"]),
        )  # fmt: skip
    wide(170).print(table if rows else f"no activity in {month}")
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
    rows = query(
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
        print_json(jsonable(rows))
        return
    title = "open alerts" if open_only else "alerts"
    table = Table(title=f"{title}" + (f" as of {when:%Y-%m-%d %H:%M}" if when else ""))
    for head in ("raised", "kind", "subject", "step", "department", "town", "deadline", "open"):
        table.add_column(head)
    for r in rows:
        colour = _CARD_COLOUR.get(r["kind"], "magenta")  # violations: magenta
        table.add_row(
            f"{r['raised_at']:%Y-%m-%d %H:%M}", f"[{colour}]{safe(r['kind'])}[/]",
            safe(r["subject"]), safe(r["step"]), safe(r["department"]), safe(r["town"]),
            safe(r["deadline"]),
            "yes" if r["open"] else "no",
        )  # fmt: skip
    wide(150).print(table if rows else "no alerts")


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
    rows = query(
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
        print_json(jsonable(rows))
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
    wide(150).print(table if rows else "no cases")
