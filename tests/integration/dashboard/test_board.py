"""The inspectors' live board and the case page, run by AppTest on the real services."""

from __future__ import annotations

from tests.dashboard_support import HEAD, INSPECTOR, Hall, page_test


def test_the_board_counts_exactly_the_cards_its_lists_show(dashboard: Hall) -> None:
    at = page_test("board", user=INSPECTOR).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics, at
    print(metrics)


def test_a_case_page_shows_the_case_and_its_intact_chain(dashboard: Hall) -> None:
    at = page_test("case", user=INSPECTOR, params={"case": "DG2026030200001"}).run()
    assert not at.exception, at.exception
    assert any("哈希链完整" in s.value for s in at.success), [s.value for s in at.success]


def test_a_head_cannot_open_another_departments_case_through_the_url(dashboard: Hall) -> None:
    at = page_test("case", user=HEAD, params={"case": "DG2026030200001"}).run()
    assert not at.exception, at.exception
    print([e.value for e in at.error])
