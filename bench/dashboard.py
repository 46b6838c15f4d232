"""The dashboard at scale: each page's queries on a large hall, on embedded chdb and on a
ClickHouse server, the case page on the event store, and the dashboard's start time.

Setup (timed, reported, not in the figures): ``bench.dashboard_tables.fill`` writes a
hall of N cases (1M by default) straight into the read-model tables of each backend,
migrations applied: chdb through the writer (``ChdbBackend``, its ``insert_many``), the
server (Debian's 18.16, started by ``infra/scripts/clickhouse-server.sh`` on free ports
and stopped at the end) through clickhouse-driver. Every table is then merged
(``OPTIMIZE … FINAL``, as a settled database) and the chdb writer closed with one
checkpoint: the dashboard's way in, ``connect(path, read_only=True)``, restores it.

Per backend, each page's queries are called directly (no Streamlit), as the page calls
them, repeated up to 30 times (at least 3, fewer past a time budget), the filters
cycling through none, the busiest department, a town, a popular item, a channel and
this month; after each run the raw baseline runs: one ``count()`` per table the page
reads, each scanning a column of every row, so a reader sees what the engine costs
on its own:

* live board tick: ``dashboard.pages.board.board_data`` (counters, the red list, cards
  by department and by town, overdue by week, the newest alerts), target p95 < 300 ms,
  after one untimed tick;
* the board as of 30 days ago (the same queries, rebuilt from ``events``), < 1 s;
* the unit page: this month's ``kpi.rank`` by department, the 12 months before it
  (``projections.trends.monthly_ranks``: one ranking a month), the department's red and
  yellow cases, its open orders and its bad reviews waiting, < 1 s;
* the notice page: last month's ranking by department and by town, < 1 s.

The case page reads the event store: ``HallwatchServices.case_record`` on a SQLite store
of ``store_cases`` simulated cases (``infra.simulate.generate_records``, ingested), beside
reading the case's stored rows. The start time: ``hallwatch dashboard`` on a free port
over the filled folder (embedded default), a users file with one inspector, Debian's
chromium through Playwright, from process start to the first page's title, and to the
board's first counter if a sign-in form is there; beside a one-line Streamlit page.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.dashboard_tables import clickhouse_server, fill_backends
from bench.relay import free_port
from bench.report import Row, print_table
from domain import clock
from domain.vocabulary import TIME_ZONE, Role
from projections import board, kpi, queries, trends
from projections.board import BoardFilter
from projections.clickhouse import ClickHouse, ClickHouseError, Reader, connect
from projections.month import Month
from projections.scope import Scope

console = Console(stderr=True)
ROOT = Path(__file__).resolve().parents[1]
TICK_MS, PAGE_MS = 300.0, 1000.0
#: The sample catalogue's first day in force (its ``valid_from``).
CATALOGUE_FROM = date(2025, 1, 1)
#: The unit page's part that ``dashboard.kpi_view.rankings`` caches for a minute.
RANKINGS = "rankings_12_months"
MAX_REPS, MIN_REPS = 30, 3
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
PASSWORD = "bench password 1"
#: The narrow column each table's baseline scans.
BASELINE_COLUMN = {
    "cases": "status", "events": "type", "alerts": "kind", "supervision_orders": "status",
    "ratings": "case_id", "complaints": "status", "steps": "step",
}  # fmt: skip


# --------------------------------------------------------------------------- the pages


@dataclass(frozen=True)
class Ctx:
    """What the pages are asked: "now", the past time, the filters, the units."""

    now: datetime
    as_of: datetime
    filters: tuple[tuple[str, BoardFilter], ...]
    departments: tuple[str, ...]

    @property
    def month(self) -> Month:
        return Month(self.now.year, self.now.month)


Parts = dict[str, float]


def _timed(parts: Parts, name: str, fn: Callable[[], Any]) -> None:
    t0 = time.perf_counter()
    fn()
    parts[name] = parts.get(name, 0.0) + (time.perf_counter() - t0) * 1000


def board_tick(ch: Reader, ctx: Ctx, i: int, as_of: datetime | None = None) -> Parts:
    """``board_data``'s queries for filter ``i`` (the default list: red cards)."""
    f, s, at, p = ctx.filters[i % len(ctx.filters)][1], Scope.everything(), ctx.now, Parts()
    _timed(p, "counters", lambda: board.counters(ch, f, s, at, as_of))
    _timed(p, "case_list", lambda: board.case_list(ch, f, s, at, card="red", as_of=as_of))
    _timed(p, "by_department", lambda: board.cards_by(ch, f, s, at, "department", as_of))
    _timed(p, "by_town", lambda: board.cards_by(ch, f, s, at, "town", as_of))
    _timed(p, "overdue_by_week", lambda: board.overdue_by_week(ch, f, s, at, as_of=as_of))
    _timed(p, "alert_list", lambda: queries.alert_list(
        ch, as_of=as_of, department=f.department, town=f.town, item_code=f.item_code,
        since=f.since, scope=s, limit=30))  # fmt: skip
    return p


def board_as_of(ch: Reader, ctx: Ctx, i: int) -> Parts:
    return board_tick(ch, ctx, i, ctx.as_of)


def unit_page(ch: Reader, ctx: Ctx, i: int) -> Parts:
    """``dashboard/pages/unit.py`` for a department (an inspector's choice): the units, the
    12 rankings ending last month (``kpi_view.rankings``), the department's red and yellow
    cases, its open orders and its bad reviews waiting, in its head's scope."""
    dep = ctx.departments[i % len(ctx.departments)]
    scope, at, p = Scope(Role.HEAD.value, department=dep), ctx.now, Parts()
    months = trends.months_up_to(trends.last_complete_month(clock.local_date(at)), 12)
    _timed(p, "units", lambda: trends.units(ch, "department", Scope.everything()))
    _timed(p, RANKINGS, lambda: trends.monthly_ranks(ch, months, "department"))
    _timed(p, "red_yellow", lambda: [
        board.case_list(ch, BoardFilter(), scope, at, card=c) for c in ("red", "yellow")
    ])  # fmt: skip
    _timed(p, "open_orders", lambda: board.open_orders(ch, scope, at))
    _timed(p, "bad_reviews", lambda: board.bad_reviews_waiting(ch, scope, at))
    return p


def notice_page(ch: Reader, ctx: Ctx, i: int) -> Parts:
    """每月一公示: last month's one ranking, by department or by town (alternately)."""
    last, p = trends.last_complete_month(clock.local_date(ctx.now)), Parts()
    by: kpi.Grouping = "department" if i % 2 == 0 else "town"
    _timed(p, f"rank_{by}", lambda: trends.monthly_ranks(ch, [last], by))
    return p


@dataclass(frozen=True)
class Page:
    name: str
    target_ms: float
    run: Callable[[Reader, Ctx, int], Parts]
    tables: tuple[str, ...]  # what the baseline scans


PAGES = (
    Page("live board tick", TICK_MS, board_tick,
         ("cases", "alerts", "supervision_orders", "steps")),
    Page("board as of 30 days ago", PAGE_MS, board_as_of,
         ("events", "alerts", "supervision_orders", "steps")),
    Page("unit page", PAGE_MS, unit_page,
         ("cases", "events", "ratings", "complaints", "alerts", "supervision_orders")),
    Page("notice page", PAGE_MS, notice_page,
         ("cases", "events", "ratings", "complaints", "alerts")),
)  # fmt: skip


def baseline(ch: Reader, tables: tuple[str, ...]) -> None:
    """One full-column ``count()`` per table: the engine reading the same rows."""
    for t in tables:
        ch.query(
            f"SELECT count() FROM {t} WHERE {BASELINE_COLUMN[t]} != ''"
            if t != "ratings"
            else "SELECT count() FROM ratings WHERE level > 0"
        )


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    ms: list[float] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)
    parts: list[Parts] = field(default_factory=list)
    error: str = ""


def p95(xs: list[float]) -> float:
    """The 95th percentile, nearest rank (the largest of fewer than 20)."""
    s = sorted(xs)
    return s[max(0, -(-95 * len(s) // 100) - 1)] if s else float("inf")


def time_page(ch: Reader, page: Page, ctx: Ctx, budget_s: float) -> Timing:
    """Run the page up to MAX_REPS times (at least MIN_REPS; no new run past the budget),
    its baseline after each run."""
    out = Timing()
    started = time.perf_counter()
    try:
        if page.target_ms <= TICK_MS:
            page.run(ch, ctx, 0)  # the board has ticked before anyone looks
        for i in range(MAX_REPS):
            t0 = time.perf_counter()
            out.parts.append(page.run(ch, ctx, i))
            out.ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            baseline(ch, page.tables)
            out.raw_ms.append((time.perf_counter() - t0) * 1000)
            if i + 1 >= MIN_REPS and time.perf_counter() - started > budget_s:
                break
    except ClickHouseError as e:
        out.error = str(e).splitlines()[0][:160]
    return out


def medians(parts: list[Parts]) -> dict[str, float]:
    """Each query's median ms, over the runs that ran it, slowest first."""
    keys = dict.fromkeys(k for p in parts for k in p)
    med = {k: statistics.median(p[k] for p in parts if k in p) for k in keys}
    return dict(sorted(med.items(), key=lambda kv: -kv[1]))


def _slowest(parts: list[Parts]) -> str:
    top = list(medians(parts).items())[:2]
    return "; slowest " + ", ".join(f"{k} {v:,.0f}" for k, v in top) if top else ""


def page_row(page: Page, label: str, t: Timing, name: str = "") -> Row:
    note = (
        f"failed: {t.error}" if t.error and not t.ms
        else f"p50 {statistics.median(t.ms):,.0f}; n={len(t.ms)}{_slowest(t.parts)}"
    )  # fmt: skip
    return Row(
        name=f"{name or page.name} p95, {label}",
        unit="ms",
        value=p95(t.ms) if not t.error else float("inf"),
        baseline_name="count() per table read",
        baseline=p95(t.raw_ms),
        max_value=page.target_ms,
        note=note,
    )


def context(ch: Reader, now: datetime) -> Ctx:
    """The filters the pages cycle through, from the hall's own busiest units."""

    def top(col: str, n: int = 1) -> list[str]:
        rows = ch.query(
            f"SELECT {col}, count() AS n FROM cases GROUP BY {col} ORDER BY n DESC, {col} LIMIT {n}"
        )
        return [str(r[0]) for r in rows]

    today = clock.local_date(now)
    since = clock.start_of_day(today.replace(day=1))
    filters = (
        ("none", BoardFilter()),
        ("department", BoardFilter(department=top("department")[0])),
        ("town", BoardFilter(town=top("town")[0])),
        ("item", BoardFilter(item_code=top("item_code")[0])),
        ("channel", BoardFilter(channel="web")),
        ("this month", BoardFilter(since=since, until=clock.start_of_day(today + timedelta(1)))),
    )
    as_of = clock.start_of_day(today - timedelta(days=30)) + timedelta(hours=10)
    return Ctx(now, as_of, filters, tuple(top("department", 50)))


def measure(ch: Reader, label: str, now: datetime, budget_s: float) -> tuple[list[Row], list[str]]:
    """The pages' rows, and each page's queries' median ms (for the report's notes)."""
    ctx = context(ch, now)
    rows, lines = [], []
    for page in PAGES:
        console.print(f"{label}: {page.name} …")
        t = time_page(ch, page, ctx, budget_s)
        new = [page_row(page, label, t)]
        if page.run is unit_page and t.ms:  # the same runs, the minute's rankings cached
            warm = [{k: v for k, v in p.items() if k != RANKINGS} for p in t.parts]
            cached = Timing([sum(p.values()) for p in warm], t.raw_ms, warm, t.error)
            new.append(page_row(page, label, cached, "unit page, rankings cached,"))
        for row in new:
            console.print(f"  {row.name}: {row.value:,.0f} ms ({row.note})")
        rows += new
        each = ", ".join(f"{k} {v:,.0f}" for k, v in medians(t.parts).items())
        lines.append(f"{label}, {page.name}: median ms per query: {each}")
    return rows, lines


# --------------------------------------------------------------------------- the readers


def open_reader(target: str | Path) -> tuple[ClickHouse, float]:
    """The dashboard's way in, and the seconds it took (a chdb reader restores)."""
    t0 = time.perf_counter()
    ch = connect(target, read_only=True)
    return ch, time.perf_counter() - t0


def restore_row(chdb_path: Path, open_s: float, work: Path) -> Row:
    """The reader's open beside unpacking the same checkpoint with tar."""
    (ckpt,) = (chdb_path / "checkpoints").glob("*.tar.gz")
    dest = work / "untar"
    dest.mkdir()
    t0 = time.perf_counter()
    subprocess.run(["tar", "-xzf", str(ckpt), "-C", str(dest)], check=True)
    untar = time.perf_counter() - t0
    shutil.rmtree(dest, ignore_errors=True)
    return Row(
        name="chdb reader open (restore)",
        unit="ms",
        value=open_s * 1000,
        baseline_name="tar -xzf of the checkpoint",
        baseline=untar * 1000,
        note=f"{ckpt.stat().st_size / 1e6:,.0f} MB checkpoint; the first board render pays it",
    )


def measure_backend(
    target: str | Path, label: str, now: datetime, budget_s: float, work: Path
) -> tuple[list[Row], list[str]]:
    ch, open_s = open_reader(target)
    try:
        console.print(f"{label}: reader open in {open_s:,.1f} s")
        rows, lines = measure(ch, label, now, budget_s)
    finally:
        ch.close()
    if label == "chdb":
        rows.insert(0, restore_row(Path(target), open_s, work))
    return rows, lines


# --------------------------------------------------------------------------- the case page


def case_page(work: Path, store_cases: int) -> Row:
    """``case_record`` on a SQLite store of simulated cases, beside reading its rows."""
    import orjson

    from domain.catalogue import parse_catalogue, sample_catalogue_path
    from domain.model import stream_id
    from infra.dashboard.services import HallwatchServices
    from infra.settings import Settings
    from infra.simulate import generate_records
    from infra.wiring import open_app

    settings = Settings(data_dir=work / "store", secret_key=b"k" * 32)
    t0 = time.perf_counter()
    app = open_app(settings)
    try:
        app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
        # 15 cases a working day, ending about now, never before the sample catalogue
        span = (store_cases // 15 + 1) * 7 // 5 + 90
        start = max(date.today() - timedelta(span), CATALOGUE_FROM)
        recs = generate_records(cases=store_cases, start=start, seed=5)
        lines = [orjson.dumps(r) for r in recs]
        for i in range(0, len(lines), 1000):
            app.ingest(lines[i : i + 1000])
    finally:
        app.close()
    built = time.perf_counter() - t0
    ids = [r["case_id"] for r in recs if r["kind"] == "submitted"]
    picks = [ids[(i * 7919) % len(ids)] for i in range(MAX_REPS)]
    services = HallwatchServices(settings)
    ms, raw = [], []
    try:
        for cid in picks:
            t1 = time.perf_counter()
            found = services.case_record(cid, Scope.everything(), None)
            ms.append((time.perf_counter() - t1) * 1000)
            assert found is not None, cid
            with services.store() as store:
                t1 = time.perf_counter()
                store.recorder.select_events(stream_id("case", cid))
                raw.append((time.perf_counter() - t1) * 1000)
    finally:
        services.close()
    return Row(
        name=f"case page p95, {store_cases:,}-case SQLite store",
        unit="ms", value=p95(ms), baseline_name="SQLite read of the case's events",
        baseline=p95(raw), max_value=PAGE_MS,
        note=f"p50 {statistics.median(ms):,.0f}; n={len(ms)}; {len(lines):,} records "
        f"ingested in {built:,.0f} s",
    )  # fmt: skip


# --------------------------------------------------------------------------- the start time


def _serve(
    browser: Any, argv: list[str], port: int, env: dict[str, str], log: Path, sign_in: bool
) -> tuple[float, float | None, str]:
    """Start ``argv``; seconds to the first page's title, to the board (if signed in)."""
    from playwright.sync_api import Error as BrowserError

    page = browser.new_page()
    url = f"http://127.0.0.1:{port}/"
    with log.open("ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    page.goto(url, timeout=10_000, wait_until="domcontentloaded")
                    break
                except BrowserError:
                    if proc.poll() is not None or time.perf_counter() - t0 > 300:
                        raise RuntimeError(f"{argv[2:4]} did not serve {url}") from None
                    time.sleep(0.05)
            page.wait_for_selector("h1", timeout=600_000)
            first = time.perf_counter() - t0
            board_s, note = _sign_in(page, url, t0) if sign_in else (None, "")
            return first, board_s, note
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            page.close()


def _sign_in(page: Any, url: str, t0: float) -> tuple[float | None, str]:
    """Through the sign-in form when there is one, to the board's first counter."""
    from playwright.sync_api import TimeoutError as BrowserTimeout

    page.goto(url + "signin", wait_until="domcontentloaded")
    try:
        page.wait_for_selector('input[type="password"]', timeout=20_000)
    except BrowserTimeout:
        return None, "no sign-in form yet: timed to the public tracker's title"
    page.locator('input[type="text"]').first.fill("bench")
    page.locator('input[type="password"]').first.fill(PASSWORD)
    page.get_by_role("button", name=re.compile("登录|log ?in|sign ?in", re.I)).first.click()
    try:
        page.wait_for_selector('[data-testid="stMetric"]', timeout=3_600_000)
    except BrowserTimeout:
        return None, "signed in, but no board counter appeared"
    return time.perf_counter() - t0, "signed in (inspector), to the board's first counter"


def start_up(data_dir: Path, work: Path) -> list[Row]:
    """``hallwatch dashboard`` over the filled folder beside a one-line Streamlit page."""
    from playwright.sync_api import sync_playwright

    from infra.cli.dashboard import ENTRY, streamlit_command
    from infra.users import add_user

    add_user(data_dir / "users.yaml", "bench", name="监察员", role=Role.INSPECTOR.value,
             password=PASSWORD)  # fmt: skip
    hello = work / "hello.py"
    hello.write_text('import streamlit as st\n\nst.title("hello")\n', encoding="utf-8")
    (work / "home").mkdir(exist_ok=True)
    env = {**os.environ, "HALLWATCH_DATA_DIR": str(data_dir), "HALLWATCH_SECRET_KEY": "6b" * 32,
           "HOME": str(work / "home")}  # fmt: skip
    log = work / "dashboard.log"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            port = free_port()
            bare = [
                str(hello) if a == str(ENTRY) else a for a in streamlit_command("127.0.0.1", port)
            ]
            raw, _, _ = _serve(browser, bare, port, env, log, False)
            port = free_port()
            argv = [sys.executable, "-m", "infra.cli", "dashboard", "--port", str(port)]
            first, board_s, note = _serve(browser, argv, port, env, log, True)
        finally:
            browser.close()

    def row(name: str, seconds: float, row_note: str) -> Row:
        return Row(
            name=name,
            unit="ms",
            value=seconds * 1000,
            baseline_name="one-line Streamlit page",
            baseline=raw * 1000,
            note=row_note,
        )

    if board_s is None:
        return [row("dashboard start to first page", first, f"embedded chdb; {note}")]
    return [row("dashboard start to first page", first, "public tracker's title"),
            row("dashboard start to the board", board_s, note)]  # fmt: skip


# --------------------------------------------------------------------------- the run


def _failed(name: str, e: BaseException) -> Row:
    return Row(name=name, unit="ms", value=float("inf"), baseline_name="-", baseline=0.0,
               max_value=0.0, note=f"not measured: {str(e).splitlines()[0][:150]}")  # fmt: skip


def write_report(rows: list[Row], lines: list[str], folder: Path) -> Path:
    """The notes and the table in ``<folder>/dashboard-<date>.txt``."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        print_table(rows)
    out = folder / f"dashboard-{date.today():%Y-%m-%d}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n\n" + buf.getvalue(), encoding="utf-8")
    return out


def run_dashboard(
    *, cases: int, store_cases: int, backends: tuple[str, ...] = ("chdb", "server"),
    budget_s: float = 120.0, browser: bool = True, out_dir: Path = ROOT / "bench" / "out",
) -> list[Row]:  # fmt: skip
    """Every figure of the module's docstring; the table also goes to ``out_dir``
    (``bench/out/``, git-ignored)."""
    work = Path(tempfile.mkdtemp(prefix="hallwatch-bench-dashboard-"))
    now = datetime.now(TIME_ZONE).replace(microsecond=0)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"dashboard benchmark, {now:%Y-%m-%d %H:%M} (Asia/Shanghai): {cases:,} cases, "
             f"{', '.join(backends)}; {os.cpu_count()} CPUs, load average {load} at the start "
             "(other work runs on this machine at the same time)"]  # fmt: skip
    rows: list[Row] = []
    chdb = work / "hall" / "clickhouse" if "chdb" in backends else None
    try:
        with contextlib.ExitStack() as stack:
            url = None
            if "server" in backends:
                try:
                    url = stack.enter_context(clickhouse_server())
                except RuntimeError as e:
                    rows.append(_failed("ClickHouse server", e))
            console.print(f"filling {cases:,} cases into {', '.join(backends)} …")
            done = fill_backends(chdb, url, cases, now)
            lines += done.lines()
            for line in done.lines():
                console.print(line)
            for label, target in (("chdb", chdb), ("server", url)):
                if target is not None:
                    measured, notes = measure_backend(target, label, now, budget_s, work)
                    rows, lines = rows + measured, lines + notes
        console.print(f"case page: a {store_cases:,}-case store …")
        try:
            rows.append(case_page(work, store_cases))
        except Exception as e:  # one failed figure must not hide the others
            rows.append(_failed("case page", e))
        if browser and chdb is not None:
            console.print("start time: hallwatch dashboard in chromium …")
            try:
                rows += start_up(chdb.parent, work)
            except Exception as e:  # a missing browser must not hide the other figures
                rows.append(_failed("dashboard start", e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    console.print(f"written to {write_report(rows, lines, out_dir)}")
    return rows
