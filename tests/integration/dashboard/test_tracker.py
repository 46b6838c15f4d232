"""The public tracker (办件查询), run by AppTest on the real services with no one signed in.

Reading tests use the sample hall (``dashboard``); tests that write (wrong codes into the
lock-out table, ratings, complaints) use a small store of their own on SQLite and on
PostgreSQL, so the shared hall stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache

import orjson
import pytest
from streamlit.testing.v1 import AppTest

from domain.model import Case, Complaint, stream_id
from domain.vocabulary import AlertKind, ViolationKind
from infra.clock import real_clock
from infra.dashboard.services import HallwatchServices, shared_services
from infra.dashboard.tracker import tracker_of
from infra.samples import sample_records_path
from infra.settings import Settings
from infra.wiring import open_app
from tests.dashboard_support import KEY, NOW, Hall, dashboard_env, page_test
from tests.support import full_case, rec, submitted

# --- what a page shows ------------------------------------------------------------------------


def shown(at: AppTest) -> str:
    """Every piece of text the page shows (titles, messages, metrics, tables)."""
    parts: list[str] = []
    for kind in (at.title, at.subheader, at.markdown, at.caption):
        parts += [str(e.value) for e in kind]
    for kind in (at.error, at.warning, at.info, at.success):
        parts += [str(e.value) for e in kind]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [d.value.to_string() for d in at.dataframe]
    parts += [t.value.reset_index().to_string() for t in at.table]
    return "\n".join(parts)


def errors(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in at.error)


def look_up(at: AppTest, receipt: str, code: str) -> AppTest:
    """Type a receipt number and query code into the case tab and press 查询."""
    at.text_input(key="track_receipt").input(receipt)
    at.text_input(key="track_code").input(code)
    at.button(key="track_lookup").click()
    at.run()
    assert not at.exception, at.exception
    return at


def look_up_complaint(at: AppTest, complaint_id: str, code: str) -> AppTest:
    at.text_input(key="track_cid").input(complaint_id)
    at.text_input(key="track_ccode").input(code)
    at.button(key="track_complaint_lookup").click()
    at.run()
    assert not at.exception, at.exception
    return at


def fresh_page(**params: str) -> AppTest:
    at = page_test("track", params=params or None).run()
    assert not at.exception, at.exception
    return at


# --- the sample hall -------------------------------------------------------------------------


@cache
def _sample() -> list[dict[str, object]]:
    return [orjson.loads(line) for line in sample_records_path().read_bytes().splitlines()]


def sample_code(hall: Hall, receipt_no: str) -> str:
    """A sample receipt's query code: the one its accepted record carries, else the one
    hallwatch derived."""
    for r in _sample():
        if r["kind"] == "accepted" and r.get("receipt_no") == receipt_no and r.get("query_code"):
            return str(r["query_code"])
    app = open_app(hall.settings)
    try:
        return app.derived_query_code(receipt_no)
    finally:
        app.close()


def sample_case_words(case_id: str) -> tuple[set[str], set[str]]:
    """The handlers of a sample case, and every applicant name in the sample."""
    handlers = {
        str(r["handler"]) for r in _sample() if r.get("case_id") == case_id and r.get("handler")
    }
    names = {str(r["applicant_name"]) for r in _sample() if r.get("applicant_name")}
    return handlers, names


#: Concluded 4 working days late, with a yellow and red cards and a step overdue raised.
LATE_CASE = ("DG2026030900014", "SL2026031000004")
#: Accepted late (a violation), concluded 2 working days late.
FLAGGED_CASE = ("DG2026030200007", "SL2026031100003")


@pytest.mark.parametrize("case", [LATE_CASE, FLAGGED_CASE])
def test_a_right_code_shows_that_case_and_nothing_else(
    dashboard: Hall, case: tuple[str, str]
) -> None:
    case_id, receipt_no = case
    at = look_up(fresh_page(), receipt_no, sample_code(dashboard, receipt_no))
    text = shown(at)
    assert not at.error, errors(at)
    assert receipt_no in text and "预计办结日期" in text
    assert "已受理" in text and "办结" in text  # the history, in plain words
    assert "已超期" in text and "个工作日" in text
    metrics = {m.label: m.value for m in at.metric}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", metrics["预计办结日期"]), metrics
    handlers, names = sample_case_words(case_id)
    masked = metrics["申请人"]
    assert masked and "*" in masked[1:] and masked not in names
    assert not [n for n in names if n in text]  # no applicant's name, their own neither
    assert not [h for h in handlers if h in text]  # no handler
    assert "DG2026" not in text  # no case ids: not this one's, nobody else's
    labels = [k.zh for k in ViolationKind] + [k.zh for k in AlertKind] + ["违规", "督办"]
    assert not [w for w in labels if w in text]
    assert at.table and len(at.table[0].value) >= 5


def test_the_tracker_speaks_english_on_request(dashboard: Hall) -> None:
    _, receipt_no = LATE_CASE
    at = look_up(fresh_page(lang="en"), receipt_no, sample_code(dashboard, receipt_no))
    text = shown(at)
    assert "Expected completion" in text and "late by 4 working days" in text
    assert "accepted" in text and "concluded" in text


# --- a small store of the test's own (SQLite and PostgreSQL) ------------------------------------


def own_cases() -> list[dict[str, object]]:
    """Two concluded, unrated cases (TRK1, TRK2), one still being handled (TRK3), and a
    bundle (一件事) of two cases under one receipt number (TRK4, TRK5)."""
    bundle = [
        submitted("TRK4", "2026-03-16 09:00", bundle_id="YJS-TRK"),
        submitted("TRK5", "2026-03-16 09:00", item_code="SCJG-001", bundle_id="YJS-TRK"),
        *(
            rec("accepted", "2026-03-16 10:00", case_id=c, receipt_no="SL-YJS", query_code="777777")
            for c in ("TRK4", "TRK5")
        ),
    ]
    open_case = [
        submitted("TRK3", "2026-03-16 09:00"),
        rec(
            "accepted",
            "2026-03-16 10:00",
            case_id="TRK3",
            receipt_no="SL-TRK3",
            query_code="654321",
        ),
    ]
    return [*full_case("TRK1")[:-1], *full_case("TRK2")[:-1], *open_case, *bundle]


@pytest.fixture
def small_hall(settings: Settings) -> Iterator[Hall]:
    """The test's own cases in a fresh store; the dashboard's services read it."""
    app = open_app(settings)
    try:
        from domain.catalogue import parse_catalogue, sample_catalogue_path

        app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
        outcomes = app.ingest(own_cases())
        assert all(o.status == "applied" for o in outcomes), outcomes
    finally:
        app.close()
    clock = f"{NOW}@{datetime.now(UTC).isoformat()}"
    env = {
        "HALLWATCH_DATA_DIR": str(settings.data_dir),
        "HALLWATCH_SECRET_KEY": KEY.hex(),
        "HALLWATCH_CLOCK": clock,
    }
    if settings.database_url:
        env["HALLWATCH_DATABASE_URL"] = settings.database_url
    hall = Hall(replace(settings, clock=clock), env)
    with dashboard_env(hall):
        yield hall


def test_a_wrong_code_or_an_unknown_number_shows_nothing_of_any_case(small_hall: Hall) -> None:
    wrong = look_up(fresh_page(), "SL-TRK1", "123457")
    unknown = look_up(fresh_page(), "SL-NOSUCH", "123456")
    for page in (wrong, unknown):
        assert "没有与该受理号和查询码相符的办件" in errors(page), errors(page)
        assert "还可再试 4 次" in errors(page) and "15 分钟" in errors(page)
        assert not page.metric and not page.dataframe and not page.subheader
        assert "TRK" not in shown(page).replace("SL-TRK1", "")
    english = look_up(fresh_page(lang="en"), "SL-TRK1", "123457")
    assert "No case with that receipt number and query code" in errors(english)
    assert "3 tries left" in errors(english)


def restart() -> None:
    """The dashboard process restarts: its services are closed and built again."""
    shared_services().close()
    shared_services.clear()


def test_five_wrong_codes_lock_the_number_across_sessions_and_restarts(small_hall: Hall) -> None:
    at = fresh_page()
    for left in (4, 3, 2, 1):
        look_up(at, "SL-TRK1", "000000")
        assert f"还可再试 {left} 次" in errors(at), errors(at)
    look_up(at, "SL-TRK1", "000000")
    assert "已被锁定" in errors(at) and "北京时间" in errors(at), errors(at)
    look_up(at, "SL-TRK1", "123456")  # the right code: still locked
    assert "已被锁定" in errors(at) and not at.metric and not at.table
    other = look_up(fresh_page(), "SL-TRK1", "123456")  # another session
    assert "已被锁定" in errors(other) and not other.metric
    english = look_up(fresh_page(lang="en"), "SL-TRK1", "123456")
    assert "is locked" in errors(english) and "Beijing time" in errors(english)
    assert look_up(fresh_page(), "SL-TRK2", "123456").metric  # other numbers stay open
    restart()
    after = look_up(fresh_page(), "SL-TRK1", "123456")
    assert "已被锁定" in errors(after) and not after.metric
    replica = HallwatchServices(small_hall.settings)  # another dashboard process
    try:
        tracked = replica.track("SL-TRK1", "123456")
        assert tracked.view is None and tracked.locked_until is not None
    finally:
        replica.close()


def test_the_lock_opens_after_fifteen_minutes(small_hall: Hall) -> None:
    at = fresh_page()
    for _ in range(5):
        look_up(at, "SL-TRK1", "999999")
    assert "已被锁定" in errors(at)
    start = real_clock()
    tracker = tracker_of(shared_services())
    tracker.clock = lambda: start + timedelta(minutes=14)
    assert "已被锁定" in errors(look_up(fresh_page(), "SL-TRK1", "123456"))
    tracker.clock = lambda: start + timedelta(minutes=15, seconds=1)
    opened = look_up(fresh_page(), "SL-TRK1", "123456")
    assert not opened.error and opened.metric
    assert "还可再试 4 次" in errors(look_up(fresh_page(), "SL-TRK1", "000000"))


def _rate(at: AppTest, level: int, comment: str) -> AppTest:
    at.radio(key="track_rate_level").set_value(level)
    at.text_area(key="track_rate_comment").input(comment)
    at.button(key="track_rate_send").click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_concluded_case_is_rated_once_through_the_domain(small_hall: Hall) -> None:
    first, second = look_up(fresh_page(), "SL-TRK1", "123456"), fresh_page()
    look_up(second, "SL-TRK1", "123456")  # another tab, opened before the rating
    _rate(first, 2, "等了很久")
    assert "感谢您的评价" in shown(first), shown(first)
    assert "您的评价：不满意" in shown(first)
    assert not [r for r in first.radio if r.key == "track_rate_level"]  # no form any more
    _rate(second, 5, "")
    assert "已评价过" in errors(second), errors(second)
    app = open_app(small_hall.settings)
    try:
        case = app.load(stream_id("case", "TRK1"))
        assert isinstance(case, Case) and case.rating == 2
        rated = [e for e in app.history(case.id) if isinstance(e, Case.Rated)]
        assert len(rated) == 1 and rated[0].comment == "等了很久"
        assert rated[0].source == "hallwatch-dashboard"
        assert app.verify_stream(case.id) is None  # hash-chained like any other event
    finally:
        app.close()


def test_an_open_case_has_no_rating_or_complaint_form(small_hall: Hall) -> None:
    at = look_up(fresh_page(), "SL-TRK3", "654321")
    assert "办理中" in shown(at)
    assert not [r for r in at.radio if r.key == "track_rate_level"]
    assert not [t for t in at.text_area if t.key == "track_complaint_text"]
    services = shared_services()
    assert services.rate("SL-TRK3", "654321", 5, "").reason == "not_concluded"
    assert services.complain("SL-TRK3", "654321", "太慢").reason == "not_concluded"


def test_a_bundle_shows_each_of_its_cases(small_hall: Hall) -> None:
    at = look_up(fresh_page(), "SL-YJS", "777777")
    assert not at.error, errors(at)
    assert len(at.table) == 2 and len(at.metric) == 8
    assert len({m.value for m in at.metric if m.label == "办理状态"}) == 1


def test_a_complaint_is_filed_and_then_tracked_with_the_code_shown(small_hall: Hall) -> None:
    at = look_up(fresh_page(), "SL-TRK2", "123456")
    at.text_area(key="track_complaint_text").input("窗口人员态度不好，\n多次要求补交同一份材料。")
    at.button(key="track_complain_send").click()
    at.run()
    assert not at.exception, at.exception
    filed = re.search(r"投诉编号 (\S+)，查询码 (\d+)", shown(at))
    assert filed, shown(at)
    complaint_id, code = filed.groups()
    app = open_app(small_hall.settings)
    try:
        c = app.load(stream_id("complaint", complaint_id))
        assert isinstance(c, Complaint) and c.case_id == "TRK2" and c.channel == "web"
    finally:
        app.close()
    tracked = look_up_complaint(fresh_page(), complaint_id, code)
    text = shown(tracked)
    assert not tracked.error, errors(tracked)
    assert "已登记" in text and "投诉已登记" in text and "受理期限" in text
    assert "答复期限" in text and "窗口人员" not in text
    wrong = look_up_complaint(fresh_page(), complaint_id, "00000000")
    assert "没有与该投诉编号和查询码相符的投诉" in errors(wrong) and not wrong.metric


#: Inputs and the message they get ("": any message; Streamlit itself drops a value longer
#: than the field's limit, so the page then asks for one).
HOSTILE = [
    ("SL-TRK1\x00", "123456", "含有不能接受的字符"),
    ("SL-\x1b[31mTRK1", "123456", "含有不能接受的字符"),
    ("SL-TRK1\u202e", "123456", "含有不能接受的字符"),
    ("S" * 65, "123456", ""),
    ("SL-TRK1", "1" * 33, ""),
    ("SL-TRK1", "12\t3456", "含有不能接受的字符"),
    ("   ", "123456", "请填写"),
    ("SL-TRK1", "", "请填写"),
    ("受" * 10_000, "码" * 10_000, ""),
]


@pytest.mark.parametrize(("receipt", "code", "message"), HOSTILE)
def test_hostile_lookups_get_a_message_never_an_exception(
    small_hall: Hall, receipt: str, code: str, message: str
) -> None:
    at = look_up(fresh_page(), receipt, code)
    assert at.error and message in errors(at), errors(at)
    assert not at.metric and not at.table
    services = shared_services()  # and without the page in front of the services
    tracked = services.track(receipt, code)
    assert tracked.view is None and tracked.extra.get("error") == "bad_input"


def test_hostile_writes_get_a_message_never_an_exception(small_hall: Hall) -> None:
    at = look_up(fresh_page(), "SL-TRK1", "123456")
    # (a text longer than the field's limit never reaches the page: Streamlit drops it)
    for text in ("差\x00评", "a\x07b", "\u202e评"):
        _rate(at, 3, text)
        assert "不能接受" in errors(at), errors(at)
        at.text_area(key="track_complaint_text").input(text)
        at.button(key="track_complain_send").click()
        at.run()
        assert not at.exception and "不能接受" in errors(at), errors(at)
    at.text_area(key="track_complaint_text").input("   ")
    at.button(key="track_complain_send").click()
    at.run()
    assert not at.exception and "请填写" in errors(at)
    services = shared_services()  # what the page never sends is refused all the same
    for level in (0, 6, -1, True):
        assert services.rate("SL-TRK1", "123456", level, "").reason == "bad_input"
    assert services.track("SL-TRK1\ud800", "123456").extra["error"] == "bad_input"
    assert services.complain("SL-TRK1", "123456", "x" * 1001).reason == "bad_input"
    assert services.rate("SL-TRK1", "123456", 4, "x" * 1001).reason == "bad_input"
    assert services.track_complaint("TS\x00", "1").extra["error"] == "bad_input"
    case = look_up(fresh_page(), "SL-TRK1", "123456")
    assert case.metric and "您的评价" not in shown(case)  # nothing was recorded
