"""The ``hallwatch`` command line: one group, a file per group of commands.

Every command reads its settings from the group (``infra.settings``), prints
through ``infra.cli.output`` and ends with one exit-code rule: 0 done, 1 refused
or failed, 2 usage error (docs/contracts.md §4).
"""

from __future__ import annotations

from pathlib import Path

import click

from infra.cli.alerting import alert
from infra.cli.broker import broker
from infra.cli.catalog import catalog
from infra.cli.context import Ctx
from infra.cli.dashboard import dashboard
from infra.cli.demo import demo
from infra.cli.ingest import ingest
from infra.cli.lookups import case_cmd, complaint, order, track
from infra.cli.output import EXIT_CODES_HELP, usage_error
from infra.cli.read_models import alerts, cases, migrate, project, rank
from infra.cli.streams import intake, relay, tail
from infra.cli.users import users
from infra.cli.verify import verify
from infra.logs import configure_logging
from infra.settings import SettingsError, from_env

__all__ = ["cli", "main"]


@click.group(epilog=EXIT_CODES_HELP)
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
        usage_error(str(e))
    configure_logging(settings)
    ctx.obj = Ctx(settings)


for _command in (
    catalog, ingest, case_cmd, track, complaint, order, verify,  # the event store
    relay, intake, tail, broker,  # Kafka
    alert,  # the alerter
    migrate, project, rank, alerts, cases,  # the read models
    dashboard, users, demo,  # the dashboard and its accounts
):  # fmt: skip
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="hallwatch")
