"""``hallwatch verify``: the keyed hash chains, the notification sequence, the signed
checkpoints and, when asked, the events topic (docs/tamper-evidence.md).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from domain.checkpoint import Checkpoint, CheckpointRefused
from infra.anchors import Anchoring, FullReport, verify_store
from infra.cli.context import current_settings, kafka_servers, open_store
from infra.cli.output import EXIT_REFUSED, console, err, print_json, safe, usage_error
from infra.settings import Settings, SettingsError


@click.command()
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
@click.option("--against-topic", is_flag=True, help="Also hold the store against the events topic.")
@click.option(
    "--topic-idle",
    type=click.FloatRange(0.5, 600),
    default=5.0,
    show_default=True,
    help="Seconds without a message after which the topic counts as read.",
)
def verify(
    as_json: bool,
    write_checkpoint: bool = False,
    anchors: Path | None = None,
    public_key: Path | None = None,
    against_topic: bool = False,
    topic_idle: float = 5.0,
) -> None:
    """Check every keyed hash chain, the notification sequence and every signed checkpoint;
    exit 1 naming the first bad event or missing range (docs/tamper-evidence.md)."""
    settings = current_settings().with_overrides(anchor_path=anchors, verify_key_file=public_key)
    topic_events = _topic_events(settings, topic_idle) if against_topic else None
    started = time.perf_counter()
    written: Checkpoint | None = None
    refused: str | None = None
    with open_store(settings) as app:
        try:
            report = verify_store(app, settings, topic_events=topic_events, progress=_progress)
        except SettingsError as e:
            usage_error(str(e))
        if write_checkpoint and report.ok:
            try:
                written = Anchoring(app, settings, "verify").checkpoint()
            except CheckpointRefused as e:
                refused = str(e)
    elapsed = time.perf_counter() - started
    if as_json:
        print_json(_as_json(report, written, refused, elapsed))
    else:
        _print_report(report, elapsed)
        if written is not None:
            console.print(
                f"checkpoint #{written.position} ({written.events:,} events) signed and "
                f"appended to {safe(settings.anchor_file)}",
                highlight=False,
            )
        if refused is not None:
            console.print(f"[bold red]TAMPERED[/]: {safe(refused)}", highlight=False)
    if not report.ok or refused is not None:
        sys.exit(EXIT_REFUSED)


def _progress(n: int) -> None:
    if n % 100_000 == 0:
        err.print(f"verify: {n:,} events checked", highlight=False)


def _topic_events(settings: Settings, idle: float) -> list[dict[str, Any]]:
    """Every event the relay published, read back from the events topic."""
    from infra.kafka import consumer
    from streams.tail import TailFilter, tail_events

    servers = kafka_servers(settings)
    try:
        return list(
            tail_events(
                lambda: consumer(servers, None),
                settings.events_topic,
                TailFilter(),
                follow=False,
                idle_seconds=idle,
            )
        )
    except Exception as e:
        usage_error(f"cannot read the events topic {settings.events_topic} on {servers}: {e}")


def _as_json(
    report: FullReport, written: Checkpoint | None, refused: str | None, elapsed: float
) -> dict[str, Any]:
    first = report.first
    return {
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


def _print_report(report: FullReport, elapsed: float) -> None:
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
    first = report.first
    if first is not None:
        label = "first bad event " if first.stream_id is not None else ""
        console.print(f"[bold red]TAMPERED[/]: {label}{safe(first.describe())}", highlight=False)
        for b in [b for b in report.problems if b is not first][:9]:
            console.print(f"  also {safe(b.describe())}", highlight=False)
        if len(report.problems) > 1:
            console.print(f"{len(report.problems)} problems in all", highlight=False)
