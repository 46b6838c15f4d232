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
from typing import TYPE_CHECKING, NoReturn

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from infra.signals import stop_on_signals
from projections.clickhouse import ClickHouseError
from projections.migrations import migrate as apply_migrations
from projections.runner import ProjectorStats, open_writer
from projections.runner import project as run_projector

if TYPE_CHECKING:
    from infra.settings import Settings

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    ctx = click.get_current_context()
    settings = getattr(ctx.obj, "settings", None)
    if settings is None:  # run alone: the environment, as the main CLI would read it
        from infra.settings import from_env

        settings = from_env()
    return settings


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


def _where(settings: Settings) -> str:
    return str(settings.clickhouse_target).split("@")[-1]


def run_migrate(settings: Settings) -> list[str]:
    """Apply the pending ClickHouse migrations; returns their names."""
    ch = open_writer(settings.clickhouse_target, on_wait=lambda m: err.print(f"waiting: {m}"))
    try:
        return apply_migrations(ch)
    finally:
        ch.close()


def run_project(settings: Settings, *, rebuild: bool, until_idle: bool) -> ProjectorStats:
    """Project the events topic; with ``rebuild``, from scratch behind a progress display
    (the total is unknown: end offsets are not to be relied on, so it counts up)."""
    stop = stop_on_signals()

    def on_error(e: Exception) -> None:
        err.print(f"project: {e}; retrying", highlight=False)

    def on_wait(message: str) -> None:
        err.print(f"project: {message}; waiting for the lease", highlight=False)

    err.print(
        f"project: {settings.events_topic} -> ClickHouse at {_where(settings)}"
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
        console.print(f"migrate: applied {', '.join(names)}", highlight=False)
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
    rows = ", ".join(f"{t} {n:,}" for t, n in sorted(stats.rows.items())) or "no rows"
    console.print(
        f"project: {stats.messages:,} messages, {stats.new_events:,} new events, "
        f"{stats.duplicates:,} duplicates, {stats.bad} unreadable; {rows}; "
        f"{stats.events_per_second:,.0f} events/s",
        highlight=False,
    )
