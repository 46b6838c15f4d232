"""The dashboard in Debian's chromium, with the whole pipeline running behind it: an
inspector signs in and watches a case turn red on the live board, without a reload,
when its deadline passes on the deployment's clock; opens its timeline; orders action
and sees the order reach the board; the public tracks a case and rates it. Every page
is photographed into tests/artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import Browser, Page, expect

from domain.vocabulary import TIME_ZONE
from infra.samples import sample_records_path
from projections.clickhouse import connect
from tests.dashboard_support import NOW, PASSWORD, build_hall
from tests.e2e.browser import browser, dashboard, environment, pipeline, settled, shot

#: Seconds from the processes' start to the watched deadline: enough to start the
#: pipeline and the dashboard, sign in and open the board before it passes.
LEAD = 75


@dataclass
class Running:
    base: str
    browser: Browser
    case_id: str
    department: str
    item_code: str
    deadline: float  # the real time (epoch) at which the watched case's deadline passes


def _watched_case(folder: Path) -> tuple[str, str, str, date]:
    """A case running at "now" whose due date is still ahead: the one that will turn red."""
    ch = connect(folder / "clickhouse", read_only=True)
    try:
        ((case_id, department, item_code, due),) = ch.query(
            "SELECT case_id, department, item_code, due_date FROM cases FINAL "
            f"WHERE status = 'in_progress' AND due_date >= toDate('{NOW[:10]}') "
            "ORDER BY due_date, case_id LIMIT 1"
        )
    finally:
        ch.close()
    return str(case_id), str(department), str(item_code), due


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("browser-hall")
    hall = build_hall(folder)
    case_id, department, item_code, due = _watched_case(folder)
    midnight = datetime.combine(due + timedelta(days=1), datetime.min.time(), TIME_ZONE)
    real = datetime.now(UTC)
    clock = f"{(midnight - timedelta(seconds=LEAD)).isoformat()}@{real.isoformat()}"
    env = environment(hall.env, HALLWATCH_CLOCK=clock)
    with pipeline(env) as penv, dashboard(penv) as base, browser() as b:
        yield Running(base, b, case_id, department, item_code, real.timestamp() + LEAD)


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/signin")
    page.get_by_role("textbox", name="用户名").fill("chen")
    page.get_by_role("textbox", name="密码").fill(PASSWORD)
    shot(page, "signin")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="监察大屏").first).to_be_visible(timeout=30_000)
    # The cookie is written by a component after the board shows: wait for it, since
    # the tests go on by loading addresses (a new session that signs in by the cookie).
    deadline = time.time() + 30
    while not any(c["name"] == "hallwatch_auth" for c in page.context.cookies()):
        assert time.time() < deadline, "the sign-in cookie was never written"
        page.wait_for_timeout(200)


@pytest.fixture(scope="module")
def inspector(running: Running) -> Iterator[Page]:
    page = running.browser.new_page(viewport={"width": 1400, "height": 1000})
    _sign_in(page, running.base)
    yield page
    page.close()


def _row(page: Page, case_id: str) -> str:
    """The text of the board's list row of a case ('' when it is not listed)."""
    grid = page.get_by_test_id("stDataFrame").first
    return str(
        grid.evaluate(
            "(el, id) => [...el.querySelectorAll('tr')].map(r => r.innerText)"
            ".find(t => t.includes(id)) || ''",
            case_id,
        )
    )


def test_a_case_turns_red_on_the_live_board_without_a_reload(
    running: Running, inspector: Page
) -> None:
    page = inspector
    page.goto(f"{running.base}/?list=all&dept={running.department}&item={running.item_code}")
    expect(page.get_by_text(running.case_id).first).to_be_attached(timeout=30_000)
    page.evaluate("window.__still_the_same_page = true")
    assert time.time() < running.deadline, "the deadline passed before the board was open"
    assert "红牌" not in _row(page, running.case_id)
    shot(page, "board-before-the-deadline")
    while "红牌" not in _row(page, running.case_id):
        assert time.time() < running.deadline + 10, "not red 10 s after its deadline passed"
        page.wait_for_timeout(250)
    seen = time.time() - running.deadline
    print(f"\n{running.case_id} red on the board {seen:.1f} s after its deadline passed")
    assert page.evaluate("window.__still_the_same_page === true"), "the page was reloaded"
    shot(page, "board-red-after-the-deadline")


def test_its_timeline_opens_from_the_board(running: Running, inspector: Page) -> None:
    page = inspector
    grid = page.get_by_test_id("stDataFrame").first
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selector
    expect(page.get_by_text("哈希链完整").first).to_be_visible(timeout=30_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    shot(page, "case-timeline")


def test_an_order_issued_on_the_case_page_reaches_the_board(
    running: Running, inspector: Page
) -> None:
    page = inspector
    page.goto(f"{running.base}/case?case={running.case_id}")
    page.get_by_text(f"督办 {running.case_id}").click()
    page.get_by_role("textbox", name="督办事项").fill("请于期限内办结并书面说明超时原因。")
    page.get_by_role("button", name="发出督办").click()
    expect(page.get_by_text("已发出督办单").first).to_be_visible(timeout=30_000)
    shot(page, "case-order-issued")
    page.goto(f"{running.base}/?list=red")
    counter = page.get_by_test_id("stMetric").filter(has_text="督办未反馈")
    expect(counter).to_be_visible(timeout=30_000)
    deadline = time.time() + 60
    while counter.inner_text().split()[-1] == "0":
        assert time.time() < deadline, "the order never reached the board"
        page.wait_for_timeout(500)
    shot(page, "board-with-the-order")


def test_every_other_page_renders(running: Running, inspector: Page) -> None:
    for path, name, text in (
        ("unit?month=2026-03", "unit", "综合得分"),
        ("notice", "notice", "公示"),
        ("?lang=en", "board-english", "Live board"),
    ):
        inspector.goto(f"{running.base}/{path}")
        expect(inspector.get_by_text(text).first).to_be_visible(timeout=60_000)
        settled(inspector)
        shot(inspector, name)


def _concluded_case_with_code() -> tuple[str, str]:
    """A receipt number and query code of a case concluded and not yet rated by "now"."""
    cut = datetime.fromisoformat(NOW)
    codes: dict[str, tuple[str, str]] = {}
    concluded: set[str] = set()
    rated: set[str] = set()
    for line in sample_records_path().read_bytes().splitlines():
        r = orjson.loads(line)
        if datetime.fromisoformat(r["at"]) > cut:
            continue
        if r["kind"] == "accepted" and r.get("query_code"):
            codes[r["case_id"]] = (r["receipt_no"], r["query_code"])
        elif r["kind"] == "concluded":
            concluded.add(r["case_id"])
        elif r["kind"] == "rated":
            rated.add(r["case_id"])
    return next(codes[c] for c in sorted(concluded - rated) if c in codes)


def test_the_public_tracks_a_case_and_rates_it(running: Running) -> None:
    receipt, code = _concluded_case_with_code()
    page = running.browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(running.base)
    page.get_by_role("textbox", name="受理号").fill(receipt)
    page.get_by_role("textbox", name="查询码").fill(code)
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_text("评价本次办事").first).to_be_visible(timeout=30_000)
    expect(page.get_by_role("cell", name="已受理").first).to_be_visible()  # 办理过程, step by step
    shot(page, "tracker-case")
    page.get_by_text("满意", exact=True).click()
    page.get_by_role("button", name="提交评价").click()
    expect(page.get_by_text("感谢您的评价").first).to_be_visible(timeout=30_000)
    shot(page, "tracker-rated")
    page.close()
