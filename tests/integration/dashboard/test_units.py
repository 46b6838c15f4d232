"""The department heads' and town managers' page and the monthly public notice, run by
AppTest on the real services over a hall ten days into April: March is a complete
month with activity, and there are red and yellow cases, open supervision orders and
bad reviews waiting in several departments and towns."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest, app_test

from dashboard.pages import notice, unit
from dashboard.services import User
from projections.clickhouse import ServerBackend
from tests.dashboard_support import HEAD, INSPECTOR, ROOT, TOWN, Hall, build_hall, dashboard_env
from tests.dashboard_support import page_test as _page_test

APRIL = "2026-04-10T10:00:00+08:00"
MONTH = "2026-03"  # the last complete month on APRIL: the pages' default
EDUCATION = User("wu", "吴科长", "head", department="教育局")
ZHONGTANG = User("ye", "叶主任", "town", town="中堂镇")


@pytest.fixture(scope="module")
def april(tmp_path_factory: pytest.TempPathFactory) -> Hall:
    return build_hall(tmp_path_factory.mktemp("april"), now=APRIL)


def _fresh_caches() -> None:
    """Rankings are cached by month and grouping, whichever hall they came from."""
    unit.rankings.clear()
    unit.unit_names.clear()


@pytest.fixture
def april_env(april: Hall) -> Iterator[Hall]:
    """The April hall's settings in the environment while a test runs the dashboard."""
    _fresh_caches()
    with dashboard_env(april):
        yield april


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[MemoryMediaFileStorage]:
    """The in-memory file storage of each AppTest run, kept to read downloads back."""
    kept: list[MemoryMediaFileStorage] = []

    class Kept(MemoryMediaFileStorage):
        def __init__(self, media_endpoint: str) -> None:
            super().__init__(media_endpoint)
            kept.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Kept)
    return kept


def page_test(page: str, user: User, params: dict[str, str] | None = None) -> AppTest:
    return _page_test(page, user=user, params=params, timeout=120)


def run(page: str, user: User, params: dict[str, str] | None = None) -> AppTest:
    at = page_test(page, user, params).run()
    assert not at.exception, at.exception
    return at


def downloaded(at: AppTest, media: list[MemoryMediaFileStorage], key: str) -> bytes:
    """What a download button of the last run hands the browser."""
    url = at.download_button(key=key).proto.url
    assert url, f"{key}: no file"
    return media[-1].get_file(url.rsplit("/", 1)[1]).content


def frame(at: AppTest, key: str) -> pd.DataFrame | None:
    """A dataframe of the page by its key (the lists), or ``ranking`` and ``history`` by
    their first columns; None when the page shows none."""
    first = {"ranking": ["rank", "group", "score"], "history": ["month", "units", "rank"]}
    found = [
        df.value
        for df in at.dataframe
        if df.key == key or list(df.value.columns[:3]) == first.get(key)
    ]
    assert len(found) <= 1, key
    return found[0] if found else None


def rank_json(hall: Hall, month: str, by: str = "department") -> list[dict[str, Any]]:
    """``hallwatch rank --month M --by B --json``, run as the command line runs."""
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "rank", "--month", month, "--by", by, "--json"],
        env={**os.environ, **hall.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def _value(text: str) -> Any:
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parsed_csv(data: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """A downloaded CSV: it starts with the UTF-8 byte-order mark (for Excel)."""
    assert data.startswith(b"\xef\xbb\xbf")
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    rows = [{k: _value(v) for k, v in r.items()} for r in reader]
    return list(reader.fieldnames or []), rows


def assert_same_ranking(data: bytes, expected: list[dict[str, Any]]) -> None:
    """Every value exactly ``rank --json``'s (type and float bits), in its key order."""
    columns, rows = parsed_csv(data)
    assert expected, "no ranking to compare"
    assert columns == list(expected[0])
    assert rows == expected
    assert [[type(v) for v in r.values()] for r in rows] == [
        [type(v) for v in r.values()] for r in expected
    ]


# --------------------------------------------------------------------------- every role


@pytest.mark.parametrize(
    ("user", "params", "shown"),
    [
        (INSPECTOR, {"by": "department", "unit": "教育局", "month": MONTH}, "教育局"),
        (INSPECTOR, {"by": "town", "unit": "中堂镇", "month": MONTH}, "中堂镇"),
        (INSPECTOR, {}, None),  # the first department, the default month
        (HEAD, {}, HEAD.department),
        (TOWN, {}, TOWN.town),
        (EDUCATION, {"month": MONTH}, "教育局"),
        (ZHONGTANG, {"lang": "en"}, "中堂镇"),
    ],
    ids=["inspector-department", "inspector-town", "inspector", "head", "town", "edu", "en"],
)
def test_every_role_gets_its_unit_page(
    april_env: Hall, user: User, params: dict[str, str], shown: str | None
) -> None:
    t0 = time.monotonic()
    at = run("unit", user, params)
    print(f"{user.role} {params}: {time.monotonic() - t0:.2f}s")
    (title,) = at.title
    assert shown is None or title.value.startswith(f"{shown} · ")
    assert ("2026-03" if params.get("lang") == "en" else "2026年3月") in title.value
    ranking = frame(at, "ranking")
    assert ranking is not None and len(ranking) > 5
    assert frame(at, "history") is not None and len(frame(at, "history")) == 12  # type: ignore[arg-type]
    assert len(at.metric) == 5
    forms = [e for e in at.get("form")]
    assert bool(forms) == (user.role == "inspector" and params.get("by") != "town"), forms


def test_a_month_without_activity_says_so(april_env: Hall) -> None:
    at = run("unit", HEAD, {"month": "2025-12"})
    assert any("没有办件活动" in i.value for i in at.info), [i.value for i in at.info]
    assert frame(at, "ranking") is None


# --------------------------------------------------------------------------- scope


def _departments(at: AppTest, key: str) -> set[str] | None:
    df = frame(at, key)
    return None if df is None else set(df["department"])


def test_a_head_sees_only_their_department_but_every_departments_ranking(april_env: Hall) -> None:
    crafted = {"by": "town", "unit": "中堂镇", "month": MONTH}  # a URL cannot widen a scope
    at = run("unit", EDUCATION, crafted)
    assert at.title[0].value.startswith("教育局 · ")
    everyone = run("unit", INSPECTOR, {"by": "department", "unit": "教育局", "month": MONTH})
    for key in ("unit_cases", "unit_orders", "unit_bad-reviews"):
        assert _departments(at, key) == {"教育局"}, key
        # the inspector looking at the department sees the very same rows
        assert frame(at, key).equals(frame(everyone, key)), key  # type: ignore[union-attr]
    whole = run("unit", INSPECTOR, {"by": "department", "unit": "民政局", "month": MONTH})
    assert _departments(whole, "unit_orders") == {"民政局"}  # others' lists exist...
    groups = [g["group"] for g in rank_json(april_env, MONTH)]
    assert list(frame(at, "ranking")["group"]) == groups  # type: ignore[index]
    assert "民政局" in groups and len(groups) > 10  # ...and the ranking shows them all

    mine = run("unit", HEAD, {"month": MONTH})
    for key in ("unit_cases", "unit_orders", "unit_bad-reviews"):
        assert _departments(mine, key) in (None, {HEAD.department}), key
    assert list(frame(mine, "ranking")["group"]) == groups  # type: ignore[index]


def test_a_town_manager_sees_only_their_town(april_env: Hall) -> None:
    at = run("unit", ZHONGTANG, {"by": "department", "unit": "教育局"})
    reviews = frame(at, "unit_bad-reviews")
    assert reviews is not None and set(reviews["town"]) == {"中堂镇"}
    cases = frame(at, "unit_cases")
    assert cases is None or set(cases["town"]) == {"中堂镇"}
    everyone = run("unit", INSPECTOR, {"by": "town", "unit": "中堂镇"})
    assert frame(everyone, "unit_bad-reviews").equals(reviews)  # type: ignore[union-attr]
    towns = [g["group"] for g in rank_json(april_env, MONTH, "town")]
    assert list(frame(at, "ranking")["group"]) == towns  # type: ignore[index]


# --------------------------------------------------------------------------- the numbers


def check_ranking_downloads(hall: Hall, media: list[MemoryMediaFileStorage]) -> None:
    expected = rank_json(hall, MONTH)
    at = run("unit", HEAD, {"month": MONTH})
    assert_same_ranking(downloaded(at, media, "ranking_csv_department"), expected)
    shown = frame(at, "ranking")
    assert shown is not None
    for key in unit.RANK_COLUMNS:  # the table holds the same values (rates shown as %)
        values = [None if pd.isna(v) else v for v in shown[key]]
        assert values == [r[key] for r in expected], key
    history = parsed_csv(downloaded(at, media, "history_csv"))[1]
    mine = next(r for r in expected if r["group"] == HEAD.department)
    assert {k: history[-1][k] for k in unit.KPI_BY_KEY} == {k: mine[k] for k in unit.KPI_BY_KEY}
    paper = run("notice", INSPECTOR, {"month": MONTH, "by": "department"})
    assert_same_ranking(downloaded(paper, media, "notice_csv"), expected)


def test_the_ranking_download_is_rank_json(
    april_env: Hall, media: list[MemoryMediaFileStorage]
) -> None:
    check_ranking_downloads(april_env, media)


def test_the_ranking_download_is_rank_json_on_a_clickhouse_server(
    clickhouse_server: str, tmp_path: Path, media: list[MemoryMediaFileStorage]
) -> None:
    base = clickhouse_server.rsplit("/", 1)[0]
    database = f"hallwatch_units_{uuid.uuid4().hex[:10]}"
    served = build_hall(tmp_path, clickhouse_url=f"{base}/{database}", now=APRIL)
    _fresh_caches()
    try:
        with dashboard_env(served):
            check_ranking_downloads(served, media)
    finally:
        _fresh_caches()
        with ServerBackend(f"{base}/default") as ch:
            ch.execute(f"DROP DATABASE IF EXISTS {database}")


# --------------------------------------------------------------------------- the notice


@pytest.mark.parametrize("by", ["department", "town"])
def test_the_notice_shows_a_months_ranking_ready_to_print(april_env: Hall, by: str) -> None:
    at = run("notice", INSPECTOR, {"month": MONTH, "by": by})
    word = "部门" if by == "department" else "镇街"
    assert at.title[0].value == f"2026年3月 {word}效能评价公示"
    expected = rank_json(april_env, MONTH, by)
    headline = at.table[0].value
    assert list(headline["单位"]) == [r["group"] for r in expected]
    assert list(headline["名次"]) == [str(r["rank"]) for r in expected]
    assert list(headline["按时办结率"]) == [
        "—" if r["on_time_rate"] is None else f"{r['on_time_rate']:.1%}" for r in expected
    ]
    shown = {c for t in at.table for c in t.value.columns}
    assert {unit.kpi_label(k) for k in unit.KPI_BY_KEY} <= shown  # every KPI is printed
    styles = [m.value for m in at.markdown if "<style>" in m.value]
    assert styles == [notice.PRINT_CSS]  # the one style block, static
    assert any("按时办结率 30" in m.value for m in at.markdown)  # the score's legend
    assert any("另存为 PDF" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 2


def test_a_town_manager_opens_the_town_notice_and_may_switch(april_env: Hall) -> None:
    at = run("notice", TOWN, {})
    assert at.title[0].value == "2026年3月 镇街效能评价公示"
    at = run("notice", TOWN, {"by": "department", "month": "2026-04", "lang": "en"})
    assert at.title[0].value.startswith("2026-04: public notice")
    assert at.warning, "the month is not over"
