"""``hallwatch case|track|complaint|order``: one case, complaint or order from the event
store, now or as it stood at a past time, with its flags and whole history.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from domain.errors import DomainError
from domain.model import Case, Complaint, SupervisionOrder
from domain.views import applicant_view, case_view, complaint_view, order_view
from infra.cli.context import current_settings, open_store
from infra.cli.options import now_or, parse_as_of
from infra.cli.output import console, fail, print_json, safe


@click.command("case")
@click.argument("ref")
@click.option("--as-of", "as_of", help="Show the case as it stood then (date or date-time).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--query-code",
    "show_code",
    is_flag=True,
    help="Print the applicant's query code (查询码) for a hall operator.",
)
def case_cmd(ref: str, as_of: str | None, as_json: bool, show_code: bool) -> None:
    """A case by case_id or receipt number, with its flags and whole history."""
    settings = current_settings()
    when = parse_as_of(as_of)
    now = now_or(when)
    with open_store(settings) as app:
        try:
            sids = app.find_cases(ref)
        except DomainError as e:
            fail(e.reason)
        views = []
        for sid in sids:
            agg, events = app.as_of(sid, when)
            if not isinstance(agg, Case):
                fail(f"case {ref} did not exist yet at {now.isoformat()}")
            assert isinstance(agg, Case)
            views.append(case_view(agg, events, now))
            if show_code and agg.receipt_no:
                views[-1]["query_code_note"] = (
                    "the hall's own code applies when one was sent; otherwise: "
                    + app.derived_query_code(agg.receipt_no)
                )
    if as_json:
        print_json(views[0] if len(views) == 1 else {"receipt_no": ref, "cases": views})
        return
    for v in views:
        _print_case(v)


def _print_case(v: dict[str, Any]) -> None:
    head = Table.grid(padding=(0, 2))
    for label, key in (
        ("case", "case_id"),
        ("receipt", "receipt_no"),
        ("item", "item_name"),
        ("department", "department"),
        ("town", "town"),
        ("status", "status"),
        ("accepted", "accepted_at"),
        ("due date", "due_date"),
        ("legal due date", "legal_due_date"),
        ("warning from", "warn_at"),
        ("outcome", "outcome"),
        ("concluded", "concluded_at"),
    ):
        if v.get(key) is not None:
            head.add_row(f"[bold]{label}", safe(v[key]))
    head.add_row("[bold]overdue", "[red]yes" if v["overdue"] else "no")
    flags = safe(", ".join(v["flags"])) or "none"
    head.add_row("[bold]flags", f"[yellow]{flags}" if v["flags"] else flags)
    console.print(head)
    steps = Table("step", "days", "started", "due", "completed", "decision", "handler")
    for s in v["steps"]:
        style = "red" if s["overdue"] else ""
        steps.add_row(
            safe(s["step"]),
            safe(s["days"]),
            safe(s["started_on"]),
            safe(s["due_date"]),
            safe(s["completed_on"]),
            safe(s["decision"]),
            safe(s["handler"]),
            style=style,
        )
    console.print(steps)
    hist = Table(
        "v", "type", "occurred", "recorded", "detail", title=f"history as of {safe(v['as_of'])}"
    )
    for e in v["events"]:
        detail = ", ".join(
            f"{k}={val}" for k, val in e["data"].items() if val not in (None, "", ())
        )
        style = "yellow" if e["type"].endswith("violation_flagged") else ""
        hist.add_row(
            str(e["version"]),
            safe(e["type"]),
            safe(e["occurred_at"]),
            safe(e["recorded_at"]),
            safe(detail[:90]),
            style=style,
        )
    console.print(hist)


@click.command()
@click.argument("receipt_no")
@click.argument("query_code")
@click.option("--json", "as_json", is_flag=True)
def track(receipt_no: str, query_code: str, as_json: bool) -> None:
    """What an applicant sees: status and expected completion, by receipt number and query code."""
    settings = current_settings()
    with open_store(settings) as app:
        try:
            sids = app.find_cases(receipt_no)
        except DomainError:
            fail("no case with that receipt number and query code")
        now = now_or(None)
        views = []
        for sid in sids:
            agg, events = app.as_of(sid, None)
            if not isinstance(agg, Case) or not app.query_code_matches(agg, query_code):
                fail("no case with that receipt number and query code")
            assert isinstance(agg, Case)
            views.append(applicant_view(agg, events, now))
    if as_json:
        print_json(views[0] if len(views) == 1 else views)
        return
    for v in views:
        console.print(
            f"[bold]{safe(v['item_name'])}[/] ({safe(v['department'])}): {safe(v['status'])}, "
            f"expected completion {safe(v['expected_completion'])}"
        )
        for h in v["history"]:
            console.print(f"  {safe(h['occurred_at'])}  {safe(h['type'])}")


@click.command()
@click.argument("ref")
@click.option("--as-of", "as_of")
@click.option("--json", "as_json", is_flag=True)
def complaint(ref: str, as_of: str | None, as_json: bool) -> None:
    """A complaint (投诉) by complaint_id, with its deadlines and history."""
    settings = current_settings()
    when = parse_as_of(as_of)
    with open_store(settings) as app:
        try:
            c = app.get_complaint(ref)
        except DomainError as e:
            fail(e.reason)
        agg, events = app.as_of(c.id, when)
    if not isinstance(agg, Complaint):
        fail(f"complaint {ref} was not filed yet then")
    assert isinstance(agg, Complaint)
    view = complaint_view(agg, events, now_or(when))
    if as_json:
        print_json(view)
        return
    console.print(
        f"[bold]complaint {safe(view['complaint_id'])}[/] about "
        f"{safe(view['case_id'] or view['department'])}: {safe(view['status'])}; "
        f"flags: {safe(', '.join(view['flags'])) or 'none'}"
    )
    for ev in view["events"]:
        console.print(f"  {safe(ev['occurred_at'])}  {safe(ev['type'])}")


@click.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
def order(ref: str, as_json: bool) -> None:
    """A supervision order (督办单) by order_id."""
    settings = current_settings()
    with open_store(settings) as app:
        try:
            o = app.get_order(ref)
        except DomainError as e:
            fail(e.reason)
        agg, events = app.as_of(o.id, None)
    assert isinstance(agg, SupervisionOrder)
    view = order_view(agg, events, now_or(None))
    if as_json:
        print_json(view)
        return
    console.print(
        f"[bold]order {safe(view['order_id'])}[/] by {safe(view['inspector'])} to "
        f"{safe(view['department'])}: {safe(view['status'])}, due {safe(view['due_date'])}; "
        f"flags: {safe(', '.join(view['flags'])) or 'none'}"
    )
