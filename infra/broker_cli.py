"""``hallwatch broker start|stop|status``: the local Kafka broker by hand.

Registered in the main CLI with ``cli.add_command(broker)``; also runs alone
(``python -m infra.broker_cli status``). The data folder comes from the main
CLI's settings when there are any, else ``HALLWATCH_DATA_DIR`` or ``./.hallwatch``.
Output is plain text (click, no markup); paths, addresses and errors go through
``printable`` so that no control character reaches the terminal.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import click
import orjson

from infra.broker import BrokerConfig, BrokerError, LocalBroker
from infra.cli_support import printable

KAFKA_PORT_VAR = "HALLWATCH_KAFKA_PORT"
S3_PORT_VAR = "HALLWATCH_S3_PORT"
BOOTSTRAP_VAR = "HALLWATCH_KAFKA_BOOTSTRAP"


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{name}={port} is not a port number (1-65535)")
    return port


def config_from_env(env: Mapping[str, str], data_dir: Path) -> BrokerConfig:
    """The broker settings of ``env`` (ports) for ``data_dir``; ValueError names a bad variable."""
    defaults = BrokerConfig(data_dir=data_dir)
    return BrokerConfig(
        data_dir=data_dir,
        kafka_port=_port(env, KAFKA_PORT_VAR, defaults.kafka_port),
        s3_port=_port(env, S3_PORT_VAR, defaults.s3_port),
    )


def external_bootstrap(env: Mapping[str, str]) -> str | None:
    """The configured Kafka cluster, if any: then hallwatch starts no broker of its own."""
    return env.get(BOOTSTRAP_VAR, "").strip() or None


def _data_dir() -> Path:
    ctx = click.get_current_context(silent=True)
    settings = getattr(ctx.obj, "settings", None) if ctx is not None else None
    data_dir = getattr(settings, "data_dir", None)
    if isinstance(data_dir, Path):
        return data_dir
    if isinstance(data_dir, str) and data_dir:
        return Path(data_dir)
    return Path(os.environ.get("HALLWATCH_DATA_DIR") or ".hallwatch")


def _broker() -> LocalBroker:
    try:
        return LocalBroker(config_from_env(os.environ, _data_dir()))
    except ValueError as e:
        _fail(str(e), code=2)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {printable(message)}", err=True)
    sys.exit(code)


@click.group()
def broker() -> None:
    """The local Kafka broker (tansu on an rclone S3 folder, 127.0.0.1 only)."""


@broker.command()
@click.option("--timeout", type=click.FloatRange(1, 600), default=30.0, show_default=True)
def start(timeout: float) -> None:
    """Start the broker in the background (nothing happens if it is already running)."""
    external = external_bootstrap(os.environ)
    if external:
        click.echo(
            f"{BOOTSTRAP_VAR} is set ({printable(external)}): using that broker, nothing started."
        )
        return
    b = _broker()
    was_running = b.status()["running"]
    began = time.monotonic()
    try:
        b.start(timeout=timeout)
    except BrokerError as e:
        _fail(str(e))
    st = b.status()
    how = "already running" if was_running else f"started in {time.monotonic() - began:.1f} s"
    click.echo(
        f"broker {how}: Kafka at {printable(b.bootstrap_servers)} "
        f"(tansu pid {st['tansu']['pid']}, rclone pid {st['rclone']['pid']} "
        f"on port {st['rclone']['port']}); data in {printable(st['data_dir'])}"
    )


@broker.command()
@click.option("--timeout", type=click.FloatRange(0, 600), default=10.0, show_default=True)
def stop(timeout: float) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after --timeout seconds)."""
    b = _broker()
    was_running = b.status()["running"]
    try:
        b.stop(timeout=timeout)
    except (BrokerError, OSError) as e:
        _fail(str(e))
    click.echo("broker stopped." if was_running else "broker was not running.")
    external = external_bootstrap(os.environ)
    if external:
        click.echo(
            f"({BOOTSTRAP_VAR} is set: hallwatch uses {printable(external)}, not a local broker.)"
        )


@broker.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Show both processes: pid, alive, port, listening. Exit 1 when not running."""
    b = _broker()
    st: dict[str, Any] = b.status()
    external = external_bootstrap(os.environ)
    st["external_bootstrap"] = external
    if as_json:
        click.echo(orjson.dumps(st, option=orjson.OPT_INDENT_2).decode())
    else:
        if external:
            click.echo(f"{BOOTSTRAP_VAR} is set: hallwatch uses {printable(external)}.")
        state = "running" if st["running"] else "not running"
        click.echo(f"local broker {state}: Kafka at {printable(st['bootstrap_servers'])}")
        for name in ("tansu", "rclone"):
            p = st[name]
            click.echo(
                f"  {name:<6} pid {p['pid'] or '-':<8} alive {'yes' if p['alive'] else 'no':<4}"
                f" port {p['port']:<6} listening {'yes' if p['listening'] else 'no':<4}"
                f" log {printable(p['log'])}"
            )
    if not st["running"] and not external:
        sys.exit(1)


if __name__ == "__main__":
    broker()
