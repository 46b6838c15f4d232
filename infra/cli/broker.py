"""``hallwatch broker start|stop|status``: the local Kafka broker by hand.

Plain lines, no markup; paths, addresses and errors go through ``printable``.
``status`` exits 1 when the broker is not running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import orjson

from infra.broker import BrokerConfig, BrokerError, LocalBroker
from infra.cli.context import current_settings
from infra.cli.output import EXIT_REFUSED, fail, printable, say, usage_error
from infra.kafka import broker_config
from infra.settings import Settings, from_env

BOOTSTRAP_VAR = "HALLWATCH_KAFKA_BOOTSTRAP"


def config_from_env(env: Mapping[str, str], data_dir: Path) -> BrokerConfig:
    """The local broker's settings in ``env`` for ``data_dir``; ValueError names a bad
    variable (a port that is no port, the same port twice)."""
    return broker_config(from_env(env).with_overrides(data_dir=data_dir))


def _settings_and_broker() -> tuple[Settings, LocalBroker]:
    settings = current_settings()
    try:
        return settings, LocalBroker(broker_config(settings))
    except ValueError as e:
        usage_error(str(e))


@click.group()
def broker() -> None:
    """The local Kafka broker (tansu on an rclone S3 folder, 127.0.0.1 only)."""


@broker.command()
@click.option("--timeout", type=click.FloatRange(1, 600), default=30.0, show_default=True)
def start(timeout: float) -> None:
    """Start the broker in the background (nothing happens if it is already running)."""
    settings = current_settings()
    if settings.kafka_bootstrap:
        say(
            f"{BOOTSTRAP_VAR} is set ({printable(settings.kafka_bootstrap)}): using that broker, "
            "nothing started."
        )
        return
    _, b = _settings_and_broker()
    was_running = b.status()["running"]
    began = time.monotonic()
    try:
        b.start(timeout=timeout)
    except BrokerError as e:
        fail(str(e))
    st = b.status()
    how = "already running" if was_running else f"started in {time.monotonic() - began:.1f} s"
    say(
        f"broker {how}: Kafka at {printable(b.bootstrap_servers)} "
        f"(tansu pid {st['tansu']['pid']}, rclone pid {st['rclone']['pid']} "
        f"on port {st['rclone']['port']}); data in {printable(st['data_dir'])}"
    )


@broker.command()
@click.option("--timeout", type=click.FloatRange(0, 600), default=10.0, show_default=True)
def stop(timeout: float) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after --timeout seconds)."""
    settings, b = _settings_and_broker()
    was_running = b.status()["running"]
    try:
        b.stop(timeout=timeout)
    except (BrokerError, OSError) as e:
        fail(str(e))
    say("broker stopped." if was_running else "broker was not running.")
    if settings.kafka_bootstrap:
        say(
            f"({BOOTSTRAP_VAR} is set: hallwatch uses {printable(settings.kafka_bootstrap)}, "
            "not a local broker.)"
        )


@broker.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Show both processes: pid, alive, port, listening. Exit 1 when not running."""
    settings, b = _settings_and_broker()
    st: dict[str, Any] = b.status()
    external = settings.kafka_bootstrap
    st["external_bootstrap"] = external
    if as_json:
        say(orjson.dumps(st, option=orjson.OPT_INDENT_2).decode())
    else:
        if external:
            say(f"{BOOTSTRAP_VAR} is set: hallwatch uses {printable(external)}.")
        state = "running" if st["running"] else "not running"
        say(f"local broker {state}: Kafka at {printable(st['bootstrap_servers'])}")
        for name in ("tansu", "rclone"):
            p = st[name]
            say(
                f"  {name:<6} pid {p['pid'] or '-':<8} alive {'yes' if p['alive'] else 'no':<4}"
                f" port {p['port']:<6} listening {'yes' if p['listening'] else 'no':<4}"
                f" log {printable(p['log'])}"
            )
    if not st["running"] and not external:
        sys.exit(EXIT_REFUSED)
