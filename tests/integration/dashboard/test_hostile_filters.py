"""Hostile filter values (对抗性筛选值): every filter of the query layer, and the board's
and the case page's URL, given quotes, backslashes, comments, NUL, a stacked DROP TABLE,
a 100,000-character string, control characters and Chinese text finds nothing and
raises nothing, on chdb and on the ClickHouse server; the tables keep every row.

Every value reaches SQL through ``projections.clickhouse.quote`` (the board's filters,
``Scope``, ``alert_list``, ``case_table``), so each of these is one literal that no
unit, item, channel, kind or case holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.vocabulary import Role
from projections import board, queries
from projections.board import BoardFilter
from projections.clickhouse import Reader, ServerBackend, connect
from projections.scope import Scope
from tests.dashboard_support import HEAD, INSPECTOR, NOW, Hall, build_hall, page_test

AT = datetime.fromisoformat(NOW)
EVERYTHING = Scope.everything()
BIG = 100_000
#: 100,000 characters of quotes, comments and backslashes.
LONG = "x' OR '1'='1 -- \\" * 6_250
HOSTILE = {
    "quote": "'",
    "backslash": "\\",
    "or-true": "' OR 1=1 --",
    "comment": "--",
    "nul": "\0",
    "drop-table": "\\'; DROP TABLE cases; --",
    "100k-characters": LONG,
    "control-characters": "".join(map(chr, range(1, 32))) + "\x7f\x1b[31m\x9b",
    "chinese": "不存在的单位",
    "unit-or-true": f"{HEAD.department}' OR '1'='1",
    "unit-and-nul": f"{HEAD.department}\0",
    "unit-and-comment": f"{HEAD.department}'--",
    "escaped-quote": "\\\\'",
    "doubled-quote": "''",
    "like-wildcards": "%_%",
    "parentheses": "')) OR ((1=1",
    "stacked-select": "'; SELECT 1; --",
    "newline": "教育局\n' OR 1=1 --",
    "bidi-override": "\u202e教育局",
    "format-string": "{department}%s%%",
}
BOARD_FIELDS = ("department", "town", "item_code", "channel")
ALERT_FIELDS = ("department", "town", "kind", "subject", "item_code")
CASE_FIELDS = ("department", "town", "item_code", "status")


@pytest.fixture(scope="module", params=["chdb", "server"])
def target(
    request: pytest.FixtureRequest, hall: Hall, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str | Path]:
    """The dashboards' hall on chdb, or the same hall built on the server."""
    if request.param == "chdb":
        yield hall.settings.clickhouse_target
        return
    base = request.getfixturevalue("clickhouse_server").rsplit("/", 1)[0]
    name = f"hallwatch_hostile_{uuid.uuid4().hex[:10]}"
    server_hall = build_hall(tmp_path_factory.mktemp("hostile"), clickhouse_url=f"{base}/{name}")
    yield server_hall.settings.clickhouse_target
    server = ServerBackend(f"{base}/{name}")
    try:
        server.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        server.close()


def _census(ch: Reader) -> dict[str, int]:
    """Every table and its row count."""
    tables = sorted(str(r[0]) for r in ch.query("SHOW TABLES"))
    return {t: int(ch.query(f"SELECT count() FROM {t}")[0][0]) for t in tables}


@pytest.fixture(scope="module")
def census(target: str | Path) -> dict[str, int]:
    ch = connect(target, read_only=True)
    try:
        counted = _census(ch)
    finally:
        ch.close()
    assert counted["cases"] > 100 and counted["alerts"] > 0, counted
    return counted


@pytest.fixture
def ch(target: str | Path, census: dict[str, int]) -> Iterator[Reader]:
    """A reader (one chdb database per process: opened for each test only); the tables
    hold every row they held before, afterwards."""
    reader = connect(target, read_only=True)
    try:
        yield reader
        assert _census(reader) == census
    finally:
        reader.close()


def _no_cases(ch: Reader, f: BoardFilter, scope: Scope) -> None:
    counters = board.counters(ch, f, scope, AT)
    assert counters["open"] == 0 and all(counters[c.value] == 0 for c in board.CARD_ORDER)
    assert board.case_list(ch, f, scope, AT, limit=BIG) == []
    assert board.case_list(ch, f, scope, AT, as_of=AT - timedelta(days=3), limit=BIG) == []
    assert board.cards_by(ch, f, scope, AT, "department") == []
    assert board.cards_by(ch, f, scope, AT, "town") == []
    assert board.overdue_by_week(ch, f, scope, AT) == []


@pytest.mark.parametrize("name", HOSTILE)
def test_the_boards_filters_find_nothing(ch: Reader, name: str) -> None:
    value = HOSTILE[name]
    for field in BOARD_FIELDS:
        f = BoardFilter(**{field: value})
        _no_cases(ch, f, EVERYTHING)
        if field != "channel":  # violations and orders are not filtered by channel
            assert board.violations_today(ch, f, EVERYTHING, AT) == 0
    assert board.open_orders(ch, EVERYTHING, AT, value) == []
    assert (
        board.counters(ch, BoardFilter(department=value), EVERYTHING, AT)["unanswered_orders"] == 0
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_a_scope_bound_to_a_hostile_unit_sees_nothing(ch: Reader, name: str) -> None:
    value = HOSTILE[name]
    for scope in (Scope(Role.HEAD.value, department=value), Scope(Role.TOWN.value, town=value)):
        _no_cases(ch, BoardFilter(), scope)
        assert board.violations_today(ch, BoardFilter(), scope, AT) == 0
        assert board.open_orders(ch, scope, AT) == []
        assert board.bad_reviews_waiting(ch, scope, AT) == []
        assert queries.alert_list(ch, scope=scope, limit=BIG) == []


@pytest.mark.parametrize("name", HOSTILE)
def test_alert_and_case_filters_find_nothing(ch: Reader, name: str) -> None:
    value = HOSTILE[name]
    for field in ALERT_FIELDS:
        assert queries.alert_list(ch, limit=BIG, **{field: value}) == [], field
        assert queries.alert_list(ch, open_only=True, as_of=AT, **{field: value}) == [], field
    for field in CASE_FIELDS:
        assert queries.case_table(ch, now=AT, limit=BIG, **{field: value}) == [], field


def test_a_unit_beyond_the_query_size_limit_finds_nothing(ch: Reader) -> None:
    """300 KB of Chinese (more than ClickHouse's 256 KiB ``max_query_size``) as a scope's
    unit is never sent: no unit is that long."""
    huge = "部" * BIG
    for scope in (Scope(Role.HEAD.value, department=huge), Scope(Role.TOWN.value, town=huge)):
        _no_cases(ch, BoardFilter(), scope)
        assert queries.alert_list(ch, scope=scope, limit=BIG) == []


@pytest.mark.parametrize(
    "f",
    [BoardFilter(department="部" * BIG), BoardFilter(LONG, LONG, LONG, LONG)],
    ids=["300KB-in-one-filter", "four-100k-filters"],
)
def test_a_filter_beyond_the_query_size_limit_finds_nothing(ch: Reader, f: BoardFilter) -> None:
    _no_cases(ch, f, EVERYTHING)


# --- through the pages' URLs (AppTest, the dashboards' hall on chdb) --------------------


@pytest.mark.parametrize("name", HOSTILE)
def test_the_case_pages_reference_finds_nothing(dashboard: Hall, name: str) -> None:
    at = page_test("case", user=INSPECTOR, params={"case": HOSTILE[name]}).run()
    assert not at.exception, at.exception
    assert not at.title and not at.metric and not at.dataframe  # no case shown
    assert at.error or at.info


SHORT = [n for n in HOSTILE if n != "100k-characters"]


@pytest.mark.parametrize("name", SHORT)
def test_the_boards_url_filters_find_nothing(dashboard: Hall, name: str) -> None:
    value = HOSTILE[name]
    params: dict[str, Any] = {"dept": value, "town": value, "item": value, "channel": value}
    at = page_test("board", user=INSPECTOR, params=params).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics and set(metrics.values()) == {"0"}, metrics


def test_the_boards_url_beyond_the_query_size_limit_finds_nothing(dashboard: Hall) -> None:
    params = {"dept": "x" * 140_000, "town": "x" * 140_000}  # a 280 KB URL (Streamlit: 512 KB)
    at = page_test("board", user=INSPECTOR, params=params).run()
    assert not at.exception, at.exception[0].value[:200]
