"""The KPI definitions (projections/kpi.py) as pure functions of the base counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections import kpi

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"
BASE_KEYS = sorted(
    {m for k in kpi.KPIS for m in re.findall(r'_n\(b, "(\w+)"\)', _src)}
    if (_src := Path(kpi.__file__).read_text(encoding="utf-8"))
    else set()
)

counts = st.integers(min_value=0, max_value=10_000)


@st.composite
def bases(draw: st.DrawFn) -> dict[str, float]:
    """Consistent base counts: every numerator at most its denominator."""
    b = {k: float(draw(counts)) for k in BASE_KEYS}
    pairs = [
        ("concluded_on_time", "concluded_with_due"), ("concluded_late", "concluded_with_due"),
        ("open_overdue_at_end", "open_with_due_at_end"), ("submitted_online", "submitted"),
        ("submitted_corrected", "submitted"), ("concluded_online", "concluded"),
        ("delivered_no_visit", "delivered"), ("delivered_le1", "delivered"),
        ("delivered_le2", "delivered"), ("ratings_satisfied", "ratings"),
        ("bad_reviews_answered_on_time", "bad_reviews"),
        ("complaints_replied_on_time", "complaints_to_answer"), ("items_depth_1", "items"),
        ("items_depth_2", "items"), ("items_depth_3", "items"),
    ]  # fmt: skip
    for num, den in pairs:
        b[num] = min(b[num], b[den])
    return b


def test_every_kpi_has_a_formula_and_a_unique_key() -> None:
    keys = [k.key for k in kpi.KPIS]
    assert len(keys) == len(set(keys))
    for k in kpi.KPIS:
        assert k.formula and k.zh, k.key


@given(bases())
def test_rates_are_in_0_1_or_none_exactly_when_nothing_to_measure(b: dict[str, float]) -> None:
    values = kpi.kpis_of(b)
    for k in kpi.KPIS:
        v = values[k.key]
        if k.kind == "rate":
            assert v is None or 0.0 <= v <= 1.0, (k.key, v)
        if k.kind == "count":
            assert isinstance(v, int) and v >= 0
    assert (values["on_time_rate"] is None) == (b["concluded_with_due"] == 0)
    assert (values["online_rate"] is None) == (b["submitted"] == 0)
    assert (values["complaints_per_1000"] is None) == (b["submitted"] == 0)


@given(bases())
def test_score_is_0_100_and_better_on_time_never_lowers_it(b: dict[str, float]) -> None:
    values = kpi.kpis_of(b)
    s = kpi.score(values)
    assert s is None or 0.0 <= s <= 100.0
    if values["on_time_rate"] is not None and s is not None:
        better = {**values, "on_time_rate": 1.0}
        assert (kpi.score(better) or 0.0) >= s - 1e-9


def test_overdue_rate_counts_late_conclusions_and_open_overdue_cases() -> None:
    b = {"concluded_with_due": 3, "concluded_late": 1, "open_with_due_at_end": 1,
         "open_overdue_at_end": 1}  # fmt: skip
    assert kpi.overdue_rate(b) == 0.5
    assert kpi.overdue_rate({}) is None


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "november", "2026-00", ""])
def test_a_bad_month_is_refused_with_the_input_named(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        kpi.Month.parse(text)


def test_months_bounds_are_shanghai_midnights() -> None:
    m = kpi.Month.parse("2026-12")
    assert (str(m), m.start.isoformat(), m.end.isoformat()) == (
        "2026-12", "2026-12-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00",
    )  # fmt: skip


def test_the_contract_keys_are_exactly_those_of_contracts_section_6() -> None:
    text = CONTRACTS.read_text(encoding="utf-8")
    section = text.split("## 6.", 1)[1]
    keys: list[str] = []
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| key") and "---" not in line:
            cell = line.split("|")[1]
            keys += [k.strip() for k in re.sub(r"\(.*?\)", "", cell).split(",")]
    assert list(kpi.CONTRACT_KEYS) == keys
