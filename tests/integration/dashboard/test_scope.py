"""Who may see what (可见范围), enforced where the rows are read, not by hiding pages.

A department head asking for another department's case through the URL gets the "no
case you may see" message and nothing of the case; a town manager likewise by town. The
board's and the unit page's queries under a head's (or a town manager's) scope return
exactly the rows of that unit that an inspector's would, on chdb and on the ClickHouse
server, and a crafted filter cannot widen a scope. Rankings stay complete for everyone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from domain.vocabulary import Role
from projections import board, kpi, queries
from projections.board import BoardFilter
from projections.clickhouse import Reader, ServerBackend, connect
from projections.scope import Scope
from tests.dashboard_support import HEAD, INSPECTOR, TOWN, Hall, build_hall, page_test

#: A month on: the sample's supervision orders, complaints and answered reviews are in.
LATER = "2026-04-10T12:00:00+08:00"
AT = datetime.fromisoformat(LATER)
EVERYTHING = Scope.everything()
BIG = 100_000
Rows = list[dict[str, Any]]

# --- the case page, through the URL (the event store behind it) -------------------------


@pytest.fixture(scope="module")
def cases(hall: Hall) -> Rows:
    """Every case of the dashboards' hall with its unit (read before any page opens it)."""
    ch = connect(hall.settings.clickhouse_target, read_only=True)
    try:
        return queries.case_table(ch, now=AT, limit=BIG)
    finally:
        ch.close()


def _one(cases: Rows, keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(c for c in cases if keep(c) and c["receipt_no"])


def _shows_nothing_of(at: Any, case: dict[str, Any]) -> None:
    assert not at.exception, at.exception
    assert any("没有可查看的办件" in e.value for e in at.error), [e.value for e in at.error]
    assert not at.title and not at.metric and not at.success and not at.dataframe
    shown = " ".join(m.value for m in at.markdown)
    assert case["case_id"] not in shown and case["department"] not in shown, shown


@pytest.mark.parametrize("by", ["case_id", "receipt_no"])
def test_a_head_cannot_open_another_departments_case_through_the_url(
    dashboard: Hall, cases: Rows, by: str
) -> None:
    other = _one(cases, lambda c: c["department"] != HEAD.department)
    at = page_test("case", user=HEAD, params={"case": other[by]}).run()
    _shows_nothing_of(at, other)
    as_of = page_test("case", user=HEAD, params={"case": other[by], "asof": "2026-03-19T10:00"})
    _shows_nothing_of(as_of.run(), other)


def test_a_head_opens_a_case_of_their_own_department(dashboard: Hall, cases: Rows) -> None:
    own = _one(cases, lambda c: c["department"] == HEAD.department)
    at = page_test("case", user=HEAD, params={"case": own["receipt_no"]}).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert own["case_id"] in at.title[0].value


@pytest.mark.parametrize("by", ["case_id", "receipt_no"])
def test_a_town_manager_sees_only_their_towns_cases(dashboard: Hall, cases: Rows, by: str) -> None:
    own = _one(cases, lambda c: c["town"] == TOWN.town)
    other = _one(cases, lambda c: c["town"] != TOWN.town and c["department"] == own["department"])
    at = page_test("case", user=TOWN, params={"case": own[by]}).run()
    assert not at.exception, at.exception
    assert own["case_id"] in at.title[0].value
    _shows_nothing_of(page_test("case", user=TOWN, params={"case": other[by]}).run(), other)


def test_an_inspector_opens_any_case(dashboard: Hall, cases: Rows) -> None:
    for case in (
        _one(cases, lambda c: c["department"] != HEAD.department),
        _one(cases, lambda c: c["town"] != TOWN.town),
    ):
        at = page_test("case", user=INSPECTOR, params={"case": case["case_id"]}).run()
        assert not at.exception, at.exception
        assert case["case_id"] in at.title[0].value


# --- the query layer, on chdb and on the server -----------------------------------------


@pytest.fixture(scope="module", params=["chdb", "server"])
def later_hall(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp(f"scope_{request.param}")
    if request.param == "chdb":
        yield build_hall(folder, now=LATER)
        return
    base = request.getfixturevalue("clickhouse_server").rsplit("/", 1)[0]
    name = f"hallwatch_scope_{uuid.uuid4().hex[:10]}"
    yield build_hall(folder, clickhouse_url=f"{base}/{name}", now=LATER)
    server = ServerBackend(f"{base}/{name}")
    try:
        server.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        server.close()


@pytest.fixture
def ch(later_hall: Hall) -> Iterator[Reader]:
    """A reader of the hall (one chdb database per process: opened for each test only)."""
    reader = connect(later_hall.settings.clickhouse_target, read_only=True)
    try:
        yield reader
    finally:
        reader.close()


def _mine(scope: Scope, rows: Rows) -> Rows:
    return [r for r in rows if scope.allows(r.get("department"), r.get("town"))]


_ALERTS = "alerts"
_BAD_REVIEWS = "(SELECT department, town FROM ratings FINAL WHERE bad = 1)"


def _busiest(ch: Reader, rows: str, column: str) -> set[str]:
    """The unit with the most rows in ``rows`` (a table or a subquery), if any."""
    found = ch.query(
        f"SELECT {column} FROM {rows} WHERE {column} != '' GROUP BY {column} "
        f"ORDER BY count() DESC, {column} LIMIT 1"
    )
    return {str(r[0]) for r in found}


def _scopes(ch: Reader) -> list[Scope]:
    """The fixture's head and town manager, and those of the units with the most alerts,
    bad reviews and open orders (so that every list has rows in some scope)."""
    heads = {str(HEAD.department)} | _busiest(ch, _ALERTS, "department")
    heads |= _busiest(ch, _BAD_REVIEWS, "department")
    heads |= {str(o["department"]) for o in board.open_orders(ch, EVERYTHING, AT)}
    towns = {str(TOWN.town)} | _busiest(ch, _ALERTS, "town") | _busiest(ch, _BAD_REVIEWS, "town")
    towns |= {
        t for o in board.open_orders(ch, EVERYTHING, AT) if (t := _case_towns(ch).get(o["case_id"]))
    }
    return [Scope(Role.HEAD.value, department=d) for d in sorted(heads)] + [
        Scope(Role.TOWN.value, town=t) for t in sorted(towns)
    ]


def _case_towns(ch: Reader) -> dict[str, str]:
    return {r["case_id"]: r["town"] for r in queries.case_table(ch, now=AT, limit=BIG)}


def _orders_of(scope: Scope, orders: Rows, towns: dict[str, str]) -> Rows:
    """A town sees the orders about its towns' cases; a head those of its department."""
    if scope.role == Role.TOWN:
        return [o for o in orders if o["case_id"] and towns.get(o["case_id"]) == scope.town]
    return _mine(scope, orders)


def test_the_boards_lists_under_a_scope_are_exactly_that_units_rows(ch: Reader) -> None:
    f = BoardFilter()
    every_case = board.case_list(ch, f, EVERYTHING, AT, limit=BIG)
    every_alert = queries.alert_list(ch, scope=EVERYTHING, limit=BIG)
    every_order = board.open_orders(ch, EVERYTHING, AT)
    every_review = board.bad_reviews_waiting(ch, EVERYTHING, AT)
    towns = _case_towns(ch)
    seen: dict[str, int] = {"cases": 0, "alerts": 0, "orders": 0, "reviews": 0}
    for scope in _scopes(ch):
        cases = board.case_list(ch, f, scope, AT, limit=BIG)
        assert cases == _mine(scope, every_case), scope
        alerts = queries.alert_list(ch, scope=scope, limit=BIG)
        assert alerts == _mine(scope, every_alert), scope
        orders = board.open_orders(ch, scope, AT)
        assert orders == _orders_of(scope, every_order, towns), scope
        reviews = board.bad_reviews_waiting(ch, scope, AT)
        assert reviews == _mine(scope, every_review), scope
        counters = board.counters(ch, f, scope, AT)
        assert counters["open"] == len(cases), scope
        for card in board.CARD_ORDER:
            assert counters[card.value] == sum(c["card"] == card.value for c in cases), scope
        assert counters["unanswered_orders"] == len(orders), scope
        _check_units(ch, scope, cases)
        for key, rows in (("cases", cases), ("alerts", alerts), ("orders", orders)):
            seen[key] += len(rows)
        seen["reviews"] += len(reviews)
    assert all(seen.values()), seen  # every list had rows in some scope
    assert len({c["department"] for c in every_case}) > 3  # and others had rows outside it


def _check_units(ch: Reader, scope: Scope, cases: Rows) -> None:
    f = BoardFilter()
    for by in ("department", "town"):
        units = board.cards_by(ch, f, scope, AT, by)
        expected: dict[str, tuple[int, int]] = {}
        for c in cases:
            y, r = expected.get(c[by], (0, 0))
            expected[c[by]] = (y + (c["card"] == "yellow"), r + (c["card"] == "red"))
        got = {u["unit"]: (u["yellow"], u["red"]) for u in units}
        assert got == {k: v for k, v in expected.items() if sum(v)}, (scope, by)
    heat = board.overdue_by_week(ch, f, scope, AT)
    if scope.role == Role.HEAD:
        assert {h["department"] for h in heat} <= {scope.department}, scope


def test_a_crafted_filter_cannot_widen_a_scope(ch: Reader) -> None:
    everyone = board.case_list(ch, BoardFilter(), EVERYTHING, AT, limit=BIG)
    head, town = Scope(Role.HEAD.value, department=HEAD.department), TOWN.scope
    other_department = next(c["department"] for c in everyone if c["department"] != head.department)
    other_town = next(c["town"] for c in everyone if c["town"] != town.town)
    for scope, f, alert_filter in (
        (head, BoardFilter(department=other_department), {"department": other_department}),
        (town, BoardFilter(town=other_town), {"town": other_town}),
    ):
        assert board.case_list(ch, f, scope, AT, limit=BIG) == []
        counters = board.counters(ch, f, scope, AT)
        assert all(counters[c.value] == 0 for c in board.CARD_ORDER) and counters["open"] == 0
        assert board.cards_by(ch, f, scope, AT, "department") == []
        assert queries.alert_list(ch, scope=scope, limit=BIG, **alert_filter) == []
    if any(o["department"] != head.department for o in board.open_orders(ch, EVERYTHING, AT)):
        assert board.open_orders(ch, head, AT, other_department) == []


@pytest.mark.parametrize(
    "scope",
    [
        Scope.nothing(),
        Scope(Role.HEAD.value),
        Scope(Role.TOWN.value),
        Scope("stranger", "教育局", "南城街道"),
        Scope("INSPECTOR"),
    ],
    ids=["public", "head-without-department", "town-without-town", "unknown-role", "upper-case"],
)
def test_a_scope_without_its_unit_or_a_known_role_sees_nothing(ch: Reader, scope: Scope) -> None:
    assert scope.sql() == "0" and not scope.allows("教育局", "南城街道")
    f = BoardFilter()
    assert board.case_list(ch, f, scope, AT, limit=BIG) == []
    assert board.open_orders(ch, scope, AT) == []
    assert board.bad_reviews_waiting(ch, scope, AT) == []
    assert queries.alert_list(ch, scope=scope, limit=BIG) == []
    assert board.counters(ch, f, scope, AT)["open"] == 0


@pytest.mark.parametrize("by", ["department", "town"])
def test_rankings_stay_complete_for_every_role(ch: Reader, by: kpi.Grouping) -> None:
    """``kpi.rank`` takes no scope: a head sees every department's place, as an inspector
    does; every unit with cases in March is ranked."""
    ranking = kpi.rank(ch, kpi.Month(2026, 3), by)
    groups = {r["group"] for r in ranking}
    units = {c[by] for c in queries.case_table(ch, now=AT, limit=BIG)}
    assert groups >= units - {""}, units - groups
    assert len(groups) > 3
    assert (HEAD.department if by == "department" else TOWN.town) in groups
    assert [r["rank"] for r in ranking] == list(range(1, len(ranking) + 1))
