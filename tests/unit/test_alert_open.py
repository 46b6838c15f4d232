"""Whether an alert is still open (未解决) at a time, from when its subject was resolved."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.vocabulary import TIME_ZONE, AlertKind
from projections.queries import _is_open

T = datetime(2026, 3, 20, 10, 0, tzinfo=TIME_ZONE)


def _case(**times: datetime | None) -> dict[str, dict[str, Any]]:
    state = {"concluded_at": None, "accepted_at": None, "rating_answered_at": None}
    return {"case:C1": {**state, **times}}


def _alert(kind: AlertKind) -> dict[str, Any]:
    return {"kind": kind.value, "stream_kind": "case", "subject": "C1", "step": ""}


def test_an_unanswered_bad_review_stays_open_after_the_conclusion_it_follows() -> None:
    resolved = _case(concluded_at=T - timedelta(days=3))
    assert _is_open(_alert(AlertKind.RATING_UNANSWERED), resolved, None)


def test_an_answered_bad_review_is_closed_from_its_answer_on() -> None:
    resolved = _case(concluded_at=T - timedelta(days=3), rating_answered_at=T)
    alert = _alert(AlertKind.RATING_UNANSWERED)
    assert _is_open(alert, resolved, T - timedelta(minutes=1))
    assert not _is_open(alert, resolved, T)
    assert not _is_open(alert, resolved, None)


def test_a_conclusion_closes_the_cases_deadline_alerts() -> None:
    resolved = _case(concluded_at=T)
    assert not _is_open(_alert(AlertKind.CASE_OVERDUE), resolved, None)
    assert _is_open(_alert(AlertKind.CASE_OVERDUE), resolved, T - timedelta(hours=1))
