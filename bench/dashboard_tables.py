"""The dashboard benchmark's hall, table by table: each case's planned events
(``bench.dashboard_fill``) cut at "now" and folded into its ``cases``, ``steps`` and
``ratings`` rows as the projectors would; supervision orders and complaints with their
own streams; the loop that fills one or more backends a chunk at a time; the private
ClickHouse server it fills."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from bench.dashboard_fill import (
    _CHANNELS,
    _INSPECTORS,
    DAY,
    Done,
    Ev,
    Hall,
    Ids,
    Item,
    Out,
    aftercare,
    build_hall,
    handling,
    intake,
    iso,
    local_day,
    midnight,
    plan_cases,
    stream_rows,
)
from bench.relay import free_port
from domain.lifecycle import changes_status, status_after
from domain.vocabulary import ONLINE_CHANNELS
from projections.clickhouse import ChdbBackend, ClickHouse, Insert, connect
from projections.migrations import migrate
from projections.projectors import (
    AlertsProjector,
    CasesProjector,
    ComplaintsProjector,
    EventsProjector,
    RatingsProjector,
    StepsProjector,
    SupervisionOrdersProjector,
)

console = Console(stderr=True)
SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "infra" / "scripts" / "clickhouse-server.sh"

#: Each read model's columns, in the order its projector writes them (one source: the
#: projectors' own ``table`` and ``columns``).
COLUMNS: dict[str, tuple[str, ...]] = {
    p.table: tuple(p.columns)
    for p in (
        EventsProjector, CasesProjector, StepsProjector, RatingsProjector, AlertsProjector,
        ComplaintsProjector, SupervisionOrdersProjector,
    )
}  # fmt: skip
TABLES = tuple(COLUMNS)
_D = date.fromisoformat


def inserts(out: Out) -> list[Insert]:
    return [(t, COLUMNS[t], getattr(out, t)) for t in TABLES if getattr(out, t)]


# --------------------------------------------------------------------------- folding a case


def _fold(done: Sequence[Done], it: Item) -> dict[str, Any]:
    """The ``cases`` columns that the case's events set, as the projector folds them."""
    f: dict[str, Any] = {
        "status": "", "receipt_no": "", "intake_due_date": None, "accepted_at": None,
        "clock_start": None, "due_date": None, "warn_date": None, "legal_due_date": None,
        "corrections": 0, "suspensions": 0, "suspended": 0, "extended_days": 0, "steps_total": 0,
        "completed_steps": [], "concluded_at": None, "outcome": "", "rejection_reason": "",
        "on_time": None, "late_days": 0, "handling_days": None, "concluded_online": None,
        "delivered_at": None, "delivery_method": "", "site_visits": None, "rating": None,
        "rated_at": None, "rating_answered_at": None, "violations": 0, "alerts": 0,
        "complaints": 0, "supervision_orders": 0,
    }  # fmt: skip
    for t, name, d, _eid, _v in done:
        n = name[5:]
        if changes_status(name):  # the status machine is the domain's (domain/lifecycle.py)
            f["status"] = status_after(name, d.get("stage"))
        if n == "submitted":
            f["intake_due_date"] = _D(d["intake_due_date"])
        elif n == "correction_requested":
            f["corrections"] += 1
        elif n == "correction_received" and d["stage"] == "intake":
            f["intake_due_date"] = _D(d["intake_due_date"])
        elif n in ("correction_received", "resumed", "extended", "accepted"):
            for k in ("due_date", "warn_date", "legal_due_date"):
                f[k] = _D(d[k])
            f["suspended"] = 0
            f["extended_days"] += d.get("days", 0)
            if n == "accepted":
                f["accepted_at"], f["clock_start"] = t, _D(d["clock_start"])
                f["receipt_no"], f["steps_total"] = d["receipt_no"], len(it.steps)
        elif n == "rejected":
            f["concluded_at"], f["rejection_reason"] = t, d["reason"]
        elif n == "suspended":
            f["suspended"] = 1
            f["suspensions"] += 1
        elif n == "step_completed":
            f["completed_steps"] = [*f["completed_steps"], d["step"]]
        elif n == "concluded":
            f.update(concluded_at=t, outcome=d["outcome"],
                     on_time=int(d["on_time"]), late_days=d["late_days"],
                     handling_days=d["handling_days"],
                     concluded_online=int(d["online"]))  # fmt: skip
        elif n == "delivered":
            f.update(delivered_at=t, delivery_method=d["method"], site_visits=d["site_visits"])
        elif n == "rated":
            f["rating"], f["rated_at"] = d["level"], t
        elif n == "rating_answered":
            f["rating_answered_at"] = t
        elif n in _COUNTED:
            f[_COUNTED[n]] += 1
    return f


_COUNTED = {
    "violation_flagged": "violations",
    "alert_raised": "alerts",
    "supervision_ordered": "supervision_orders",
    "complaint_linked": "complaints",
}


def _case_row(c: dict[str, Any], it: Item, done: Sequence[Done]) -> tuple[Any, ...]:
    f = _fold(done, it)
    t_last, _n, _d, eid, version = done[-1]
    online = c["channel"] in ONLINE_CHANNELS
    return (
        c["id"], f["receipt_no"], it.code, it.name, it.department, c["town"], c["channel"],
        c["kind"], int(online), "", f["status"], c["s"], f["intake_due_date"], f["accepted_at"],
        f["clock_start"], it.days, f["due_date"], f["warn_date"], f["legal_due_date"], 0,
        f["corrections"], f["suspensions"], f["suspended"], f["extended_days"],
        f["steps_total"], len(f["completed_steps"]), f["completed_steps"], f["concluded_at"],
        f["outcome"], f["rejection_reason"], f["on_time"], f["late_days"], f["handling_days"],
        f["concluded_online"], f["delivered_at"], f["delivery_method"], f["site_visits"],
        f["rating"], f["rated_at"], f["rating_answered_at"], f["violations"], f["alerts"],
        f["complaints"], f["supervision_orders"], version, eid, t_last,
    )  # fmt: skip


def _step_and_rating_rows(out: Out, c: dict[str, Any], it: Item, done: Sequence[Done]) -> None:
    steps: dict[str, list[Any]] = {}
    rating: list[Any] = []
    version, eid = done[-1][4], done[-1][3]
    for t, name, d, _e, _v in done:
        if name == "case.step_started":
            steps[d["step"]] = [
                c["id"], d["step"], it.department, it.code, _date(t), _D(d["due_date"]), None,
                "", None, d["handler"], version, eid,
            ]  # fmt: skip
        elif name == "case.step_completed" and d["step"] in steps:
            steps[d["step"]][6:9] = [_date(t), d["decision"], int(d["on_time"])]
        elif name == "case.rated":
            due = d["answer_due_date"]
            rating = [
                c["id"], it.department, it.code, c["town"], d["level"], int(d["bad"]), t,
                None if due is None else _D(due), None, None, version, eid,
            ]  # fmt: skip
        elif name == "case.rating_answered" and rating:
            rating[8:10] = [t, int(d["on_time"])]
    out.steps.extend(tuple(s) for s in steps.values())
    if rating:
        out.ratings.append(tuple(rating))


def _date(t: int) -> date:
    return _D(iso(local_day(t)))


# --------------------------------------------------------------------------- orders, complaints


def order_rows(out: Out, ids: Ids, o: dict[str, Any], now: int) -> tuple[int, str, str]:
    """One supervision order's stream and ``supervision_orders`` row (``o``: order_id,
    case_id, department, ordered_at, due_days, answered_at or -1); its due date, inspector
    and note."""
    at, dd = o["ordered_at"], o["due_days"]
    due = local_day(at) + dd * 7 // 5 + 1
    inspector = _INSPECTORS[int(o["order_id"][-4:]) % len(_INSPECTORS)]
    note = "该办件已超承诺时限，请于期限内办结并书面反馈超时原因"
    ans = o["answered_at"]
    evs: list[Ev] = [
        (at, "supervision.ordered",
         {"case_id": o["case_id"] or None, "department": o["department"], "due_date": iso(due),
          "due_days": dd, "inspector": inspector, "note": note, "order_id": o["order_id"]}, 0),
    ]  # fmt: skip
    if midnight(due + 1) < (ans if ans >= 0 else 1 << 40):
        evs.append((midnight(due + 1), "supervision.alert_raised",
                    {"alert": "supervision_unanswered", "deadline": iso(due), "deadline_day": due,
                     "detail": "order unanswered", "step": None}, 0))  # fmt: skip
    if ans >= 0:
        evs.append(
            (
                ans,
                "supervision.answered",
                {"on_time": local_day(ans) <= due, "reply": "已逐件核查，整改措施已落实到人"},
                0,
            )
        )
    stream = ("supervision", ids.new(), o["order_id"], o["department"], "", "")
    done = stream_rows(out, ids, stream, evs, now)
    if not done:
        return due, inspector, note
    answered = ans if ans >= 0 and ans <= now else None
    out.supervision_orders.append(
        (o["order_id"], o["case_id"], o["department"], inspector, note,
         "answered" if answered else "ordered", dd, at, _D(iso(due)), answered,
         None if answered is None else int(local_day(answered) <= due),
         sum(1 for e in done if e[1].endswith("alert_raised")), done[-1][4], done[-1][3],
         done[-1][0])
    )  # fmt: skip
    return due, inspector, note


def _case_order(out: Out, ids: Ids, c: dict[str, Any], it: Item, due: int, now: int) -> list[Ev]:
    """督办 of an overdue case: its own stream, and the two events on the case's."""
    at = midnight(due + 1) + c["order_delay"]
    if not c["order"] or not midnight(due + 1) < c["conc"] or at >= c["conc"]:
        return []
    oid = f"DB{iso(local_day(at)).replace('-', '')}{c['n']:07d}"
    ans = at + int(c["order_answer"]) if c["order_answer"] >= 0 else -1
    o = {"order_id": oid, "case_id": c["id"], "department": it.department, "ordered_at": at,
         "due_days": c["order_days"], "answered_at": ans}  # fmt: skip
    due, inspector, note = order_rows(out, ids, o, now)
    evs: list[Ev] = [
        (at, "case.supervision_ordered",
         {"due_date": iso(due), "inspector": inspector, "note": note, "order_id": oid}, 0),
    ]  # fmt: skip
    if ans >= 0:
        evs.append((ans, "case.supervision_answered",
                    {"on_time": local_day(ans) <= due, "order_id": oid}, 0))  # fmt: skip
    return evs


def _complaint(out: Out, ids: Ids, c: dict[str, Any], it: Item, now: int) -> list[Ev]:
    """A complaint about the case: its stream, its ``complaints`` row, the case's link."""
    filed = c["cf_at"]
    cid = f"TS{iso(local_day(filed)).replace('-', '')}{c['n']:07d}"
    acc, asg, rep, clo = (filed + int(x) for x in c["cf_steps"])
    accept_due, reply_due = local_day(filed) + 7, local_day(acc) + 21
    channel = ("hotline", "web", "app")[c["n"] % 3]
    evs: list[Ev] = [
        (filed, "complaint.filed",
         {"accept_due_date": iso(accept_due), "case_id": c["id"], "channel": channel,
          "complaint_id": cid, "content": "办理进度长时间不更新，电话咨询无人接听",
          "department": it.department}, 0),
        (acc, "complaint.accepted",
         {"on_time": local_day(acc) <= accept_due, "reply_due_date": iso(reply_due)}, 0),
        (asg, "complaint.assigned", {"department": it.department}, 0),
        (rep, "complaint.replied",
         {"on_time": local_day(rep) <= reply_due, "reply": "已责令经办人整改并向投诉人致歉"}, 0),
        (clo, "complaint.closed", {"satisfied": True}, 0),
    ]  # fmt: skip
    if midnight(reply_due + 1) < rep:
        evs.append(
            (
                midnight(reply_due + 1),
                "complaint.alert_raised",
                {
                    "alert": "complaint_overdue",
                    "deadline": iso(reply_due),
                    "deadline_day": reply_due,
                    "detail": "reply overdue",
                    "step": None,
                },
                0,
            )
        )
    done = stream_rows(out, ids, ("complaint", ids.new(), cid, it.department, "", ""), evs, now)
    if not done:
        return []
    seen = {e[1][10:]: e[0] for e in done}

    def at(name: str) -> int | None:
        return seen.get(name)

    replied = at("replied")
    status = [e[1][10:] for e in done if not e[1].endswith("alert_raised")][-1]
    out.complaints.append(
        (cid, c["id"], it.department, channel, status,
         it.department if at("assigned") else "", filed, _D(iso(accept_due)), at("accepted"),
         None if at("accepted") is None else int(local_day(acc) <= accept_due),
         _D(iso(reply_due)) if at("accepted") else None, replied,
         None if replied is None else int(local_day(rep) <= reply_due), at("closed"),
         1 if at("closed") else None, 0, int(at("alert_raised") is not None), done[-1][4],
         done[-1][3], done[-1][0])
    )  # fmt: skip
    return [(filed, "case.complaint_linked", {"complaint_id": cid}, 0)]


# --------------------------------------------------------------------------- cases, chunks, fill


def case_rows(out: Out, ids: Ids, c: dict[str, Any], it: Item, now: int) -> None:
    """Every row one case leaves in every table, as things stand at ``now``."""
    evs = intake(c, it)
    if not c["rejected"]:
        more, due = handling(c, it)
        evs += more + aftercare(c, it, due) + _case_order(out, ids, c, it, due, now)
        receipt = ("receipt", ids.new(), c["receipt"], "", "", "")
        issued = {"bundle_id": None, "case_id": c["id"], "receipt_no": c["receipt"]}
        stream_rows(out, ids, receipt, [(c["acc"], "receipt.issued", issued, 0)], now)
    if c["complaint"] and c["cf_at"] <= now:
        evs += _complaint(out, ids, c, it, now)
    stream = ("case", ids.new(), c["id"], it.department, it.code, c["town"])
    done = stream_rows(out, ids, stream, evs, now)
    out.cases.append(_case_row(c, it, done))
    _step_and_rating_rows(out, c, it, done)


def chunk_rows(hall: Hall, rng: np.random.Generator, ids: Ids, start: int, n: int, now: int) -> Out:
    """The rows of cases ``start`` … ``start + n - 1``."""
    cols = {k: v.tolist() for k, v in plan_cases(rng, hall, n, now).items()}
    hashes = rng.bytes(32 * n).hex()
    out = Out.empty()
    keys = list(cols)
    for i, values in enumerate(zip(*cols.values(), strict=True)):
        c = dict(zip(keys, values, strict=True))
        g = start + i
        it = hall.items[c["item"]]
        c.update(
            n=g, hash=hashes[64 * i : 64 * i + 64], kind="person" if g % 3 else "enterprise",
            id=f"DG{iso(local_day(c['s'])).replace('-', '')}{g:07d}",
            receipt=f"SL{iso(local_day(c['acc'])).replace('-', '')}{g:07d}",
            channel=_CHANNELS[c["channel"]], town=hall.towns[c["town"]],
        )  # fmt: skip
        case_rows(out, ids, c, it, now)
    return out


def department_orders(hall: Hall, rng: np.random.Generator, ids: Ids, n: int, now: int) -> Out:
    """``n`` supervision orders about a department (not one case) over the year."""
    out = Out.empty()
    at = now - rng.integers(3600, 365 * DAY, n)
    answered = rng.random(n) < 0.85
    for i in range(n):
        t = int(at[i])
        ans = t + int(rng.uniform(0.5 * DAY, 9 * DAY)) if answered[i] else -1
        dep = hall.departments[int(rng.integers(len(hall.departments)))]
        order = {"order_id": f"DB{iso(local_day(t)).replace('-', '')}D{i:06d}", "case_id": "",
                 "department": dep, "ordered_at": t, "due_days": 3, "answered_at": ans}  # fmt: skip
        order_rows(out, ids, order, now)
    return out


@dataclass
class Filled:
    """What a fill wrote: rows per table, seconds generating, seconds inserting per backend."""

    rows: Counter[str] = field(default_factory=Counter)
    generate_s: float = 0.0
    insert_s: list[float] = field(default_factory=list)


def fill(
    backends: Sequence[ClickHouse],
    cases: int,
    now: int,
    *,
    chunk: int = 25_000,
    seed: int = 7,
    progress: Any = None,
) -> Filled:
    """Write a hall of ``cases`` cases into every backend (the same rows), a chunk at a time."""
    hall = build_hall(seed)
    rng = np.random.default_rng(seed + 1)
    ids = Ids(rng)
    done = Filled(insert_s=[0.0] * len(backends))
    parts = [(s, min(chunk, cases - s)) for s in range(0, cases, chunk)]
    for k, (start, n) in enumerate([*parts, (-1, max(5, cases // 800))]):
        t0 = time.perf_counter()
        if start < 0:
            out = department_orders(hall, rng, ids, n, now)
        else:
            out = chunk_rows(hall, rng, ids, start, n, now)
        done.generate_s += time.perf_counter() - t0
        for j, ch in enumerate(backends):
            t0 = time.perf_counter()
            ch.insert_many(inserts(out))
            done.insert_s[j] += time.perf_counter() - t0
        done.rows.update({t: len(getattr(out, t)) for t in TABLES})
        if progress is not None:
            progress(k + 1, len(parts) + 1, done)
    return done


# --------------------------------------------------------------------------- the backends


@contextlib.contextmanager
def clickhouse_server() -> Iterator[str]:
    """A private ClickHouse server (the script installs Debian's package when missing)."""
    ports = ["--tcp-port", str(free_port()), "--http-port", str(free_port())]
    started = subprocess.run(
        ["bash", str(SERVER_SCRIPT), "start", *ports], capture_output=True, text=True, timeout=900
    )
    if started.returncode != 0:
        raise RuntimeError(f"could not start a ClickHouse server: {started.stderr[-500:]}")
    try:
        url = started.stdout.strip().splitlines()[-1]
        yield url.rsplit("/", 1)[0] + "/bench"
    finally:
        subprocess.run(["bash", str(SERVER_SCRIPT), "stop", *ports], capture_output=True,
                       timeout=120)  # fmt: skip


@dataclass
class Fill:
    """The fill, as the report shows it."""

    filled: Filled
    labels: list[str]
    settle_s: dict[str, float] = field(default_factory=dict)
    checkpoint_mb: float = 0.0

    def lines(self) -> list[str]:
        rows = ", ".join(f"{t} {self.filled.rows[t]:,}" for t in TABLES)
        out = [
            f"rows: {rows} (total {sum(self.filled.rows.values()):,})",
            f"generating the rows: {self.filled.generate_s:,.1f} s (once, for every backend)",
        ]
        for label, s in zip(self.labels, self.filled.insert_s, strict=True):
            out.append(f"inserting into {label}: {s:,.1f} s; merging (OPTIMIZE … FINAL) "
                       f"and closing: {self.settle_s.get(label, 0.0):,.1f} s")  # fmt: skip
        if self.checkpoint_mb:
            out.append(f"chdb checkpoint (what a reader restores): {self.checkpoint_mb:,.0f} MB")
        return out


def fill_backends(chdb_path: Path | None, url: str | None, cases: int, now: datetime) -> Fill:
    """The same rows into each backend; then merged, and the chdb writer closed with one
    checkpoint (no checkpoint in between: a bulk load)."""
    writers: list[tuple[str, ClickHouse]] = []
    if chdb_path is not None:
        writers.append(("chdb", ChdbBackend(chdb_path, checkpoint_min_bytes=1 << 62,
                                             max_wal_segments=1 << 30)))  # fmt: skip
    if url is not None:
        writers.append(("server", connect(url)))
    try:
        for _, w in writers:
            migrate(w)

        def progress(k: int, n: int, f: Filled) -> None:
            if k % 4 == 0 or k == n:
                console.print(f"  filled {k}/{n} chunks: {sum(f.rows.values()):,} rows …")

        filled = fill([w for _, w in writers], cases, int(now.timestamp()), progress=progress)
        done = Fill(filled, [label for label, _ in writers])
        for label, w in writers:
            t0 = time.perf_counter()
            for table in TABLES:
                w.execute(f"OPTIMIZE TABLE {table} FINAL")
            if isinstance(w, ChdbBackend):
                w.checkpoint_min_bytes, w.wal_per_base_byte = 0, 0.0  # fold it all once
            w.close()
            done.settle_s[label] = time.perf_counter() - t0
    except BaseException:
        for _, w in writers:
            with contextlib.suppress(Exception):
                w.close()
        raise
    if chdb_path is not None:
        done.checkpoint_mb = (
            sum(f.stat().st_size for f in (chdb_path / "checkpoints").glob("*.tar.gz")) / 1e6
        )
    return done
