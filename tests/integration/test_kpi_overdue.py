"""审批超时率 (``overdue_rate``) of a generated month against a recomputation from the
domain, on both ClickHouse backends.

October 2026 (National Day holidays, a Saturday as its last day), about 320 cases of
eight items of seven departments in four towns, generated from a seed: intake
corrections, steps done early or late, suspensions (特别程序) and corrections during
handling (some still open at the end of the month, some begun after the case was
already late), one extension per case at most, withdrawals during a pause, and a
horizon in late November, so many cases are still open at the end of October:
mid-step (their running step's due date differs from the case's), paused, waiting
for intake. The records go through the real domain (SQLite store), the CloudEvents
the relay publishes and the projectors.

The recomputation never reads ``projections/``: for each case it takes the domain's
own aggregate as it stood at the end of October (``Hallwatch.as_of``) and asks the
aggregate itself whether a conclusion at the last instant of the month would be late
(``Case.conclude`` on a copy): that is "past due at the end of M" for a running case
(due before the 1st) and for a paused one (its due date pushed by the working days
paused so far). Cases concluded in October count by their recorded ``on_time``.
"""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain import clock
from domain.application import Hallwatch
from domain.calendar import WorkCalendar
from domain.catalogue import parse_catalogue, sample_catalogue_path
from domain.model import Case, RecordContext, stream_id
from domain.vocabulary import OPEN_STATUSES, CaseStatus
from infra.settings import Settings
from infra.wiring import open_app
from projections import kpi, queries
from projections.clickhouse import ClickHouse
from streams.cloudevents import stored_cloudevents
from tests.support import projected_twice, rec

CONCLUDED, CORRECTION_PAUSED = CaseStatus.CONCLUDED, CaseStatus.CORRECTION_PAUSED
IN_PROGRESS, SUSPENDED = CaseStatus.IN_PROGRESS, CaseStatus.SUSPENDED
SEED = 20261031
CASES = 320
OCT = kpi.Month(2026, 10)
LAST_DAY = OCT.next_first_day - timedelta(days=1)
CUT = OCT.end - timedelta(seconds=1)  # 2026-10-31 23:59:59+08:00 (events are on the minute)
MID = datetime(2026, 10, 20, 12, 0, tzinfo=clock.SHANGHAI)
HORIZON = datetime(2026, 11, 25, 17, 0, tzinfo=clock.SHANGHAI)  # nothing happens after it
CAL = WorkCalendar.default()
#: item, department; suspendable items and those with an extension allowance included.
ITEMS = (
    "ZJ-003", "SCJG-003", "SCJG-002", "ZRZY-002", "GA-003", "RS-003", "CG-002", "SHW-003",
)  # fmt: skip
TOWNS = ("南城街道", "东城街道", "万江街道", "石龙镇")
PROCEDURES = ("hearing", "testing", "expert_review", "appraisal")


# --------------------------------------------------------------------------- the month


@dataclass
class _Sim:
    """One case's records, in time order, cut at the horizon."""

    rng: random.Random
    cid: str
    t: datetime
    out: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False

    def later(self, working_days: int = 0) -> datetime:
        """A time ``working_days`` working days later (0: later the same day), in hours."""
        day = clock.local_date(self.t)
        if working_days > 0 or self.t.time() >= time(16, 30):
            day = CAL.add_working_days(day, max(1, working_days))
            start = datetime.combine(day, time(9, 0), clock.SHANGHAI)
            return start + timedelta(minutes=self.rng.randrange(0, 420))
        return self.t + timedelta(minutes=self.rng.randrange(5, 60))

    def emit(self, kind: str, when: datetime, **fields: Any) -> bool:
        """Record ``kind`` at ``when`` unless past the horizon (then the case stops there)."""
        if self.done or when > HORIZON:
            self.done = True
            return False
        self.t = when
        self.out.append(rec(kind, when.strftime("%Y-%m-%d %H:%M"), case_id=self.cid, **fields))
        return True


def _pause(s: _Sim, suspendable: bool, suspended_before: bool) -> bool:
    """A suspension or a correction during handling and its end (maybe past the
    horizon), or now and then a withdrawal during the pause (the case ends: ``done``).
    True when it was a suspension."""
    rng = s.rng
    suspend = suspendable and not suspended_before and rng.random() < 0.6
    if suspend:
        days = rng.randint(2, 12)
        s.emit("suspended", s.later(rng.randint(0, 1)), procedure=rng.choice(PROCEDURES),
               reason="需组织听证", expected_days=days)  # fmt: skip
    else:
        days = rng.randint(1, 9)
        s.emit("correction_requested", s.later(rng.randint(0, 1)), materials=["补充说明"])
        if rng.random() < 0.1:  # a second notice during the same pause (a violation)
            s.emit("correction_requested", s.later(rng.randint(0, 2)), materials=["授权委托书"])
    if rng.random() < 0.06:
        s.emit("concluded", s.later(rng.randint(0, 3)), outcome="withdrawn", online=False)
        s.done = True
    elif suspend:
        s.emit("resumed", s.later(max(1, days + rng.randint(-1, 3))))
    else:
        s.emit("correction_received", s.later(days))
    return suspend


def case_records(rng: random.Random, n: int, items: dict[str, Any]) -> list[dict[str, Any]]:
    cid = f"OV{n:04d}"
    code = rng.choice(ITEMS)
    item = items[code]
    first = date(2026, 9, 1)
    day = CAL.add_working_days(first, rng.randrange(0, 42))  # 1 Sep … end of October
    s = _Sim(rng, cid, datetime.combine(day, time(9, 0), clock.SHANGHAI))
    s.emit("submitted", s.later(0), item_code=code, channel=rng.choice(("web", "window", "app")),
           applicant_kind="person", applicant_name="王小明", applicant_id=f"id-{cid}",
           town=rng.choice(TOWNS))  # fmt: skip
    if rng.random() < 0.1:
        s.emit("correction_requested", s.later(0), materials=["身份证明"])
        s.emit("correction_received", s.later(rng.randint(1, 3)))
    s.emit("accepted", s.later(rng.choice((0, 0, 1, 2, 6))), receipt_no=f"SL-{cid}")
    suspended = extended = False
    for name, days in ((st.name, st.days) for st in item.steps):
        if rng.random() < 0.12:
            suspended |= _pause(s, item.suspendable, suspended)
        s.emit("step_started", s.later(rng.randint(0, 1)), step=name, handler="李工")
        if rng.random() < 0.12:  # paused while the step runs
            suspended |= _pause(s, item.suspendable, suspended)
        if item.extension_days and not extended and rng.random() < 0.15:
            extended = True
            s.emit("extended", s.later(0), days=rng.randint(1, item.extension_days),
                   reason="情况复杂", approved_by="局长")  # fmt: skip
        took = max(0, round(days * rng.uniform(0.3, 1.8)))
        s.emit("step_completed", s.later(took), step=name, handler="李工", decision="pass")
    s.emit("concluded", s.later(rng.randint(0, 1)), outcome="approved", online=True)
    s.emit("delivered", s.later(0), method="electronic", site_visits=0)
    return s.out


def month_records(items: dict[str, Any]) -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    records = [r for n in range(1, CASES + 1) for r in case_records(rng, n, items)]
    return sorted(records, key=lambda r: r["at"])


@dataclass
class Generated:
    events: list[bytes]
    app_dir: Path
    cases: list[str]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Generated, Hallwatch]]:
    data_dir = tmp_path_factory.mktemp("overdue-store")
    app: Hallwatch = open_app(Settings(data_dir=data_dir, secret_key=b"k" * 32))
    try:
        catalogue = parse_catalogue(sample_catalogue_path())
        app.load_catalogue(catalogue, "sample")
        items = {v.item_code: v for v in catalogue.versions if v.valid_from <= date(2026, 9, 1)}
        records = month_records(items)
        refused = []
        for i in range(0, len(records), 500):
            chunk = records[i : i + 500]
            for r, o in zip(chunk, app.ingest([orjson.dumps(r) for r in chunk]), strict=True):
                if o.status != "applied":
                    refused.append((r, o))
        assert not refused, refused[:3]
        events = [m.value for m in stored_cloudevents(app.stored_rows(), "test-hall")]
        cases = sorted({r["case_id"] for r in records})
        yield Generated(events, data_dir, cases), app
    finally:
        app.close()


@pytest.fixture(scope="module", params=["chdb", "server"])
def month(
    request: pytest.FixtureRequest,
    generated: tuple[Generated, Hallwatch],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ClickHouse, Settings]]:
    """The month projected into a fresh ClickHouse of each kind (every event twice)."""
    events = generated[0].events
    tmp = tmp_path_factory.mktemp(f"overdue-{request.param}")
    with projected_twice(request, events, tmp, "hallwatch_overdue") as projected:
        yield projected


# --------------------------------------------------------------------------- the recomputation


def _case(app: Hallwatch, cid: str, when: datetime | None) -> Case | None:
    agg, _ = app.as_of(stream_id("case", cid), when)
    assert agg is None or isinstance(agg, Case)
    return agg


def late_if_concluded_at_month_end(app: Hallwatch, case: Case) -> bool:
    """Would the aggregate itself record a conclusion at the month's last instant as
    late? (On a copy: nothing is stored.)"""
    probe = copy.deepcopy(case)
    last = OCT.end - timedelta(seconds=1)
    ctx = RecordContext("probe", "test-recompute", "concluded", last, last)
    probe.conclude(ctx, outcome="approved", reason=None, online=False, cal=app.calendar,
                   policy=app.policy)  # fmt: skip
    return probe.on_time is False


@dataclass
class Tally:
    late: int = 0
    total: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float | None:
        return None if self.total == 0 else self.late / self.total


def recompute(app: Hallwatch, cases: list[str]) -> dict[str, dict[str, Tally]]:
    """overdue_rate's numerator and denominator per department and per town, from the
    domain alone."""
    out: dict[str, dict[str, Tally]] = {"department": {}, "town": {}}
    for cid in cases:
        final = _case(app, cid, None)
        then = _case(app, cid, CUT)
        assert final is not None
        done = final.concluded_at if final.status == CONCLUDED else None
        if done is not None and OCT.start <= done < OCT.end:
            if final.on_time is None:
                continue
            late = final.on_time is False
            kind = "concluded late" if late else "concluded on time"
        elif then is not None and then.status in OPEN_STATUSES and then.due_date is not None:
            late = late_if_concluded_at_month_end(app, then)
            kind = f"open {then.status}" + (" past due" if late else "")
        else:
            continue
        for by, grp in (("department", final.department), ("town", final.town)):
            t = out[by].setdefault(grp, Tally())
            t.total += 1
            t.late += late
            t.kinds[kind] += 1
    return out


# --------------------------------------------------------------------------- the tests


def test_the_generated_month_has_every_kind_of_case(generated: tuple[Generated, Hallwatch]) -> None:
    m, app = generated
    kinds: Counter[str] = Counter()
    step_differs = 0
    for cid in m.cases:
        then = _case(app, cid, CUT)
        final = _case(app, cid, None)
        assert final is not None
        if final.extension_days:
            kinds["extended"] += 1
        if then is None or then.status not in OPEN_STATUSES:
            continue
        kinds[f"open {then.status}"] += 1
        running = [st for st in then.steps.values() if st.running]
        if then.status == IN_PROGRESS and running:
            kinds["open mid-step"] += 1
            step_differs += any(st.due_date != then.due_date for st in running)
        if then.status in (SUSPENDED, CORRECTION_PAUSED):
            assert then.paused_since is not None and then.due_date is not None
            if then.due_date < then.paused_since:
                kinds["paused after its due date"] += 1
    print(
        f"\nseed {SEED}: {len(m.cases)} cases, {len(m.events)} events; at the end of October: "
        f"{dict(sorted(kinds.items()))}; running step due != case due: {step_differs}"
    )
    assert kinds["open in_progress"] >= 30 and kinds["open mid-step"] >= 20
    assert kinds["open suspended"] >= 2 and kinds["open correction_paused"] >= 2
    assert kinds["paused after its due date"] >= 1
    assert kinds["extended"] >= 10 and step_differs >= 20


def test_overdue_rate_per_department_and_town_matches_the_domain(
    month: tuple[ClickHouse, Settings], generated: tuple[Generated, Hallwatch]
) -> None:
    ch, settings = month
    m, app = generated
    want = recompute(app, m.cases)
    kinds = Counter[str]()
    for by in ("department", "town"):
        rows = {r["group"]: r for r in kpi.rank(ch, OCT, by)}  # type: ignore[arg-type]
        print(f"\n{by} ({settings.clickhouse_target}): group  overdue_rate  recomputed  late/total")
        for grp, t in sorted(want[by].items()):
            got = rows[grp]["overdue_rate"]
            print(f"  {grp:8} {got!s:22} {t.rate!s:22} {t.late}/{t.total}")
            assert got == t.rate, (by, grp, got, t.late, t.total, dict(t.kinds))
            if by == "department":
                kinds.update(t.kinds)
        for grp, r in rows.items():
            assert grp in want[by] or r["overdue_rate"] is None, (by, grp)
    print(f"  counted: {dict(sorted(kinds.items()))}")
    assert len(want["department"]) == 7 and len(want["town"]) == 4
    assert kinds["concluded late"] and kinds["concluded on time"]
    assert kinds["open in_progress past due"] and kinds["open in_progress"]
    paused = [k for k in kinds if k.startswith(("open suspended", "open correction_paused"))]
    assert paused and any(k.endswith("past due") for k in paused)


def hallwatch(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, as an inspector runs it beside the projector."""
    env = {
        **os.environ,
        "HALLWATCH_DATA_DIR": str(settings.data_dir),
        "HALLWATCH_SECRET_KEY": "6b" * 32,
        "HALLWATCH_CLICKHOUSE_URL": settings.clickhouse_url or "",
    }
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_rank_json_gives_exact_rates_and_the_table_rounds_them(
    month: tuple[ClickHouse, Settings], generated: tuple[Generated, Hallwatch]
) -> None:
    ch, settings = month
    m, app = generated
    want = recompute(app, m.cases)["department"]
    result = hallwatch(settings, "rank", "--month", "2026-10", "--by", "department", "--json")
    assert result.returncode == 0, result.stderr
    rows = orjson.loads(result.stdout)
    assert rows == orjson.loads(orjson.dumps(kpi.rank(ch, OCT, "department")))
    got = {r["group"]: r["overdue_rate"] for r in rows}
    assert got == {g: t.rate for g, t in want.items()}
    assert any(len(repr(v)) > 8 for v in got.values())  # e.g. 0.6428571428571429, not 0.642857
    table = hallwatch(settings, "rank", "--month", "2026-10")
    assert table.returncode == 0, table.stderr
    shown = {f"{100 * t.late / t.total:.1f}%" for t in want.values()}
    assert all(s in table.stdout for s in shown), (shown, table.stdout)


def _day(v: date | str | None) -> str | None:
    return None if v is None else str(v)[:10]


def test_case_table_gives_each_case_its_own_due_date(
    month: tuple[ClickHouse, Settings], generated: tuple[Generated, Hallwatch]
) -> None:
    ch, settings = month
    m, app = generated
    checked = 0
    for when in (MID, CUT):
        rows = {r["case_id"]: r for r in queries.case_table(ch, as_of=when, limit=100_000)}
        for cid in m.cases:
            then = _case(app, cid, when)
            if then is None:
                assert cid not in rows
                continue
            r = rows[cid]
            assert (r["status"], r["due_date"], r["warn_date"]) == (
                then.status, then.due_date, then.warn_date
            ), (cid, when)  # fmt: skip
            checked += then.status in OPEN_STATUSES
    now = {r["case_id"]: r for r in queries.case_table(ch, limit=100_000)}
    for cid in m.cases:  # the live table (from ``cases``) agrees with the aggregate too
        final = _case(app, cid, None)
        assert final is not None
        assert (now[cid]["status"], now[cid]["due_date"], now[cid]["warn_date"]) == (
            final.status, final.due_date, final.warn_date
        ), cid  # fmt: skip
    result = hallwatch(
        settings, "cases", "--open", "--as-of", "2026-10-31T23:59:59+08:00", "--limit",
        "100000", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cli = {r["case_id"]: r for r in orjson.loads(result.stdout)}
    opened = {}
    for cid in m.cases:
        then = _case(app, cid, CUT)
        if then is not None and then.status in OPEN_STATUSES:
            opened[cid] = (then.status, _day(then.due_date))
    assert {c: (r["status"], _day(r["due_date"])) for c, r in cli.items()} == opened
    print(f"\ncase table: {checked} open cases checked at two cuts, {len(opened)} by the CLI")


def test_published_case_clock_events_carry_one_due_date_each(
    generated: tuple[Generated, Hallwatch],
) -> None:
    """The as-of SQL reads ``due_date``/``warn_date`` with visitParamExtract (first key
    at any depth): the events that set the case's dates must carry each key once."""
    m, _ = generated
    seen: Counter[str] = Counter()
    for value in m.events:
        e = orjson.loads(value)
        name = e["type"].removeprefix("gov.hallwatch.case.")
        if name in ("accepted", "resumed", "extended", "concluded", "correction_received"):
            text = orjson.dumps(e["data"]).decode()
            assert text.count('"due_date":') <= 1 and text.count('"warn_date":') <= 1, text
            seen[name] += 1
    assert all(seen[k] for k in ("accepted", "resumed", "extended", "concluded")), seen
