"""``hallwatch relay|intake|tail``: the event store and the Kafka topics.

``relay`` publishes every stored event as a CloudEvent, ``intake`` applies
records from the intake topic (refused ones to the dead-letter topic), ``tail``
prints events for operators (docs/contracts.md §5).
"""

from __future__ import annotations

import logging
import sys

import click
import orjson

from infra.anchors import Anchoring, relay_checkpointer
from infra.cli.context import current_settings, kafka_servers, open_store
from infra.cli.output import console, err, fail, safe, usage_error
from infra.kafka import consumer, producer
from infra.logs import configure_worker_logging
from infra.settings import SettingsError
from infra.signals import stop_on_signals
from infra.tuning import tune_for_intake
from streams.intake import KafkaIntake, NoAssignment
from streams.relay import OutboxRelay, UnpublishableEvent
from streams.tail import TailFilter, format_line, tail_events

logger = logging.getLogger(__name__)


@click.command()
@click.option("--until-idle", is_flag=True, help="Stop once every stored event is published.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option(
    "--checkpoint-every",
    type=click.FloatRange(1, 86_400),
    default=60.0,
    show_default=True,
    help="Seconds between signed checkpoints (one is also made at the end of a run).",
)
def relay(until_idle: bool, batch_size: int, checkpoint_every: float = 60.0) -> None:
    """Publish every stored event to the events topic as a CloudEvent (outbox relay)."""
    settings = current_settings()
    configure_worker_logging(settings)
    servers = kafka_servers(settings)
    stop = stop_on_signals()
    with open_store(settings) as app:
        try:
            anchoring = Anchoring(app, settings, "relay")
        except SettingsError as e:
            usage_error(str(e))
        r = OutboxRelay(
            app.recorder,
            lambda: producer(servers),
            topic=settings.events_topic,
            source=settings.hall,
            batch_size=batch_size,
            checkpointer=relay_checkpointer(anchoring),
            checkpoint_every=checkpoint_every,
        )
        err.print(f"relay: {settings.events_topic} on {servers}, from position {r.stats.position}")
        try:
            stats = r.run(
                stop,
                until_idle=until_idle,
                on_error=lambda e: logger.warning("relay: %s; retrying", e),
            )
        except UnpublishableEvent as e:
            fail(f"relay stopped: {e}")
        finally:
            close = getattr(r.producer, "close", None)
            if close is not None:
                close(timeout=10)
    console.print(
        f"relay: {stats.published} events published, position {stats.position}, "
        f"{stats.checkpoints} signed checkpoints"
    )


@click.command()
@click.option("--until-idle", is_flag=True, help="Stop when the intake topic has nothing new.")
@click.option("--group", default="hallwatch-intake", show_default=True)
def intake(until_idle: bool, group: str) -> None:
    """Apply intake records from the intake topic; refused ones go to the dead-letter topic."""
    settings = current_settings()
    configure_worker_logging(settings)
    servers = kafka_servers(settings)
    tune_for_intake()
    stop = stop_on_signals()
    with open_store(settings) as app:
        cons = consumer(servers, group, settings.intake_topic)
        dlq = producer(servers)
        worker = KafkaIntake(
            app,
            cons,
            dlq,
            dead_letter_topic=settings.dead_letter_topic,
            max_records=settings.batch_size,
        )
        err.print(
            f"intake: {settings.intake_topic} -> event store; refused -> "
            f"{settings.dead_letter_topic}"
        )
        try:
            stats = worker.run(
                stop,
                until_idle=until_idle,
                on_error=lambda e: logger.warning("intake: %s; retrying", e),
            )
        except NoAssignment as e:
            fail(f"intake: {e}")
        finally:
            cons.close()  # leaves the group, so the next member gets the partitions at once
            dlq.close(timeout=10)
    console.print(
        f"intake: {stats.applied} applied, {stats.duplicates} duplicates, "
        f"{stats.refused} refused (dead-lettered, {stats.unapplicable} of them because "
        f"they could not be applied)"
    )


@click.command()
@click.option("--case", "subject", help="Only events of this case, complaint or order id.")
@click.option("--type", "type_contains", help="Only event types containing this, e.g. violation.")
@click.option("--department", help="Only events of this department.")
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new events.")
@click.option("--limit", type=int, help="Stop after this many events.")
@click.option("--json", "as_json", is_flag=True, help="Print whole CloudEvents, one per line.")
def tail(
    subject: str | None,
    type_contains: str | None,
    department: str | None,
    follow: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    """Print events from the events topic (for operators)."""
    settings = current_settings()
    servers = kafka_servers(settings)
    flt = TailFilter(subject=subject, type_contains=type_contains, department=department)
    for event in tail_events(
        lambda: consumer(servers, None), settings.events_topic, flt, follow=follow, limit=limit
    ):
        if as_json:
            sys.stdout.write(orjson.dumps(event).decode() + "\n")
        else:
            console.print(safe(format_line(event)), highlight=False)
