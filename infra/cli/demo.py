"""``hallwatch demo``: the whole path on the sample, as the README's main command runs it."""

from __future__ import annotations

import click

from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from domain.model import Case
from infra.broker import LocalBroker
from infra.cli.alerting import alert
from infra.cli.context import current_settings, open_store
from infra.cli.ingest import ingest
from infra.cli.lookups import case_cmd
from infra.cli.output import console, fail, safe
from infra.cli.read_models import alerts, project, rank
from infra.cli.streams import relay
from infra.cli.verify import verify
from infra.kafka import broker_config
from infra.samples import sample_records_path

#: The month the sample intake records cover.
DEMO_MONTH = "2026-03"


@click.command()
@click.pass_context
def demo(click_ctx: click.Context) -> None:
    """The whole path on the sample: catalogue, records, a flagged case, the hash chains,
    the alerts due by now, the events topic, ClickHouse, the March ranking, open alerts."""
    settings = current_settings()
    with open_store(settings) as app:
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
            fail("the sample records were refused in part; see above")
    with open_store(settings) as app:
        pick = _interesting_case(app)
    console.print(f"[bold]3. a case with supervision flags[/]: hallwatch case {safe(pick)}")
    click_ctx.invoke(case_cmd, ref=pick, as_of=None, as_json=False, show_code=False)
    console.print("[bold]4. hallwatch verify[/]")
    click_ctx.invoke(verify, as_json=False)
    console.print("[bold]5. hallwatch alert --once[/]: every alert due by now, recorded as events")
    click_ctx.invoke(alert, once=True)
    local = None if settings.kafka_bootstrap else LocalBroker(broker_config(settings))
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


def _interesting_case(app: Hallwatch) -> str:
    """The case with the most violation flags in the store, for the demo."""
    best: tuple[int, str] = (-1, "")
    for _, sid, version, topic, _state in app.stored_rows():
        if topic.endswith("Case.ViolationFlagged"):
            agg = app.load(sid)
            if isinstance(agg, Case):
                score = len({v["violation"] for v in agg.violations}) * 100 + agg.version
                best = max(best, (score, agg.case_id))
        del version
    if not best[1]:
        fail("no case with violations in the store")
    return best[1]
