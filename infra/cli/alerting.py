"""``hallwatch alert``: the alerter, raising each alert the moment its deadline passes
(``--once``: one tick, e.g. from cron). ``hallwatch alerts`` lists them.
"""

from __future__ import annotations

import click

from infra.cli.context import current_settings, open_store
from infra.cli.output import console, err
from infra.clock import clock_of
from infra.logs import configure_worker_logging
from infra.signals import stop_on_signals
from streams.alerter import Alerter


@click.command()
@click.option("--once", is_flag=True, help="One tick: raise what is due now, then stop.")
def alert(once: bool) -> None:
    """Run the alerter: raise every alert the moment its deadline passes (yellow warning,
    red overdue…), each recorded as an event. ``hallwatch alerts`` lists them."""
    settings = current_settings()
    stop = stop_on_signals()
    with open_store(settings) as app:
        alerter = Alerter(app, clock=clock_of(settings.clock))
        if once:
            alerter.start()
            alerter.tick()
        else:
            configure_worker_logging(settings)
            err.print(
                f"alert: watching {settings.backend} store, tick {settings.alert_tick_seconds}s"
            )
            alerter.run(stop, tick_seconds=settings.alert_tick_seconds)
        stats = alerter.stats
    console.print(f"alert: {stats.raised} alerts raised, {stats.scheduled} deadlines scheduled")
