"""The record generator: deterministic, schema-valid, lifecycle-valid, sorted by arrival."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from domain.calendar import WorkCalendar
from domain.catalogue import Catalogue, parse_catalogue, sample_catalogue_path
from domain.records import CASE_KINDS, COMPLAINT_KINDS, RECORD_KINDS, validation_error
from infra.simulate import fake_credit_code, fake_person_id, generate_records, main, write_jsonl

START = date(2026, 3, 2)
SAMPLE = Path(__file__).resolve().parents[2] / "infra" / "samples" / "records.jsonl"


@cache
def _records(cases: int = 300, seed: int = 7) -> tuple[dict[str, Any], ...]:
    return tuple(generate_records(cases=cases, start=START, seed=seed))


@cache
def _catalogue() -> Catalogue:
    return Catalogue(parse_catalogue(sample_catalogue_path()).versions)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --------------------------------------------------------------------------- #
# A small lifecycle checker: the rules the domain enforces (see the generator's brief)
# --------------------------------------------------------------------------- #


class LifecycleError(AssertionError):
    pass


def check_case(records: list[dict[str, Any]], catalogue: Catalogue) -> str:
    """Raise LifecycleError on the first record the domain would refuse; return the state."""
    first = records[0]
    if first["kind"] != "submitted":
        raise LifecycleError(f"{first['case_id']} starts with {first['kind']}")
    item = catalogue.version_on(first["item_code"], _t(first["at"]).date())
    if item is None:
        raise LifecycleError(f"unknown item {first['item_code']}")
    steps = item.step_names
    state = "intake"  # intake, correction_pre, progress, correction_post, concluded, rejected
    step_index, open_step, suspended, denied = 0, None, False, False
    extended = delivered = rated = False
    previous = _t(first["at"])
    for r in records[1:]:
        kind, where = r["kind"], f"{r['case_id']} {r['record_id']} {r['kind']}"
        at = _t(r["at"])
        if at <= previous:
            raise LifecycleError(f"{where}: time goes backwards")
        previous = at
        ok = False
        if kind == "submitted" or state == "rejected":
            ok = False
        elif state == "concluded":
            if kind == "delivered" and not delivered:
                delivered = ok = True
            elif kind == "rated" and not rated:
                rated = ok = True
            elif kind == "rating_answered":
                ok = rated
        elif kind == "concluded" and r["outcome"] in ("withdrawn", "terminated"):
            ok = not suspended and open_step is None
            state = "concluded"
        elif state == "intake":
            if kind == "accepted":
                state, ok = "progress", True
            elif kind == "rejected":
                state, ok = "rejected", True
            elif kind == "correction_requested":
                state, ok = "correction_pre", True
        elif state == "correction_pre":
            if kind == "correction_received":
                state, ok = "intake", True
        elif state == "correction_post":
            if kind == "correction_received":
                state, ok = "progress", True
        elif suspended:
            if kind == "resumed":
                suspended, ok = False, True
        elif denied:
            if kind == "concluded" and r["outcome"] == "denied":
                state, ok = "concluded", True
        elif kind == "step_started":
            ok = open_step is None and step_index < len(steps) and r["step"] == steps[step_index]
            open_step = r["step"]
        elif kind == "step_completed":
            ok = r["step"] == open_step
            open_step = None
            if r["decision"] == "pass":
                step_index += 1
            denied = r["decision"] == "deny"
        elif kind == "suspended":
            ok = item.suspendable
            suspended = True
        elif kind == "extended":
            ok = not extended and 0 < r["days"] <= item.extension_days and bool(r["approved_by"])
            extended = True
        elif kind == "correction_requested":
            ok = open_step is None
            state = "correction_post"
        elif kind == "concluded":
            complete = step_index == len(steps) and open_step is None
            ok = complete and r["outcome"] in ("approved", "transferred")
            state = "concluded"
        if not ok:
            raise LifecycleError(f"{where}: not allowed here (state {state})")
    return state


def check_complaint(records: list[dict[str, Any]]) -> None:
    kinds = [r["kind"] for r in records]
    full = [
        "complaint_filed",
        "complaint_accepted",
        "complaint_assigned",
        "complaint_replied",
        "complaint_closed",
    ]
    allowed = [full[:n] for n in range(1, 6)] + [["complaint_filed", "complaint_rejected"]]
    assert kinds in allowed, kinds


def check_order(records: list[dict[str, Any]]) -> None:
    kinds = [r["kind"] for r in records]
    assert kinds in (["supervision_ordered"], ["supervision_ordered", "supervision_answered"])


def streams(records: Any) -> dict[str, list[dict[str, Any]]]:
    """Records per stream key, in file order."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["kind"] in COMPLAINT_KINDS:
            out["complaint:" + r["complaint_id"]].append(r)
        elif r["kind"] in CASE_KINDS:
            out["case:" + r["case_id"]].append(r)
        else:
            out["order:" + r["order_id"]].append(r)
    return out


def check_all(records: Any) -> Counter[str]:
    """Check every stream; return the count of end states of cases."""
    catalogue = _catalogue()
    seen_cases: set[str] = set()
    ends: Counter[str] = Counter()
    for r in records:  # complaints and orders only name cases that already exist
        if r["kind"] == "submitted":
            seen_cases.add(r["case_id"])
        elif r["kind"] in ("complaint_filed", "supervision_ordered") and "case_id" in r:
            assert r["case_id"] in seen_cases, r
    for key, stream in streams(records).items():
        if key.startswith("case:"):
            ends[check_case(stream, catalogue)] += 1
        elif key.startswith("complaint:"):
            check_complaint(stream)
        else:
            check_order(stream)
    return ends


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #


def test_deterministic_for_a_seed() -> None:
    a = generate_records(cases=40, start=START, seed=11)
    b = generate_records(cases=40, start=START, seed=11)
    assert a == b
    assert a != generate_records(cases=40, start=START, seed=12)


def test_every_record_validates() -> None:
    errors = [(r["record_id"], validation_error(r)) for r in _records()]
    assert [e for e in errors if e[1] is not None] == []


def test_every_kind_appears_in_300_cases() -> None:
    counts = Counter(r["kind"] for r in _records())
    assert set(counts) == set(RECORD_KINDS)
    assert counts["submitted"] == 300
    assert 8 <= sum(n for k, n in counts.items() if k in CASE_KINDS) / 300 <= 12


def test_record_ids_unique_and_sorted_by_arrival() -> None:
    records = _records()
    ids = [r["record_id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert ids == [f"dongguan-hall-{n:08d}" for n in range(1, len(ids) + 1)]
    arrivals = [_t(r.get("recorded_at") or r["at"]) for r in records]
    assert arrivals == sorted(arrivals)


def test_lifecycle_is_followed() -> None:
    ends = check_all(_records())
    assert ends["concluded"] > 250
    assert 1 <= ends["progress"] <= 30  # open cases at the end
    assert ends["rejected"] >= 5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lifecycle_other_seeds(seed: int) -> None:
    records = generate_records(cases=120, start=date(2026, 9, 28), seed=seed)
    assert all(validation_error(r) is None for r in records)
    check_all(records)


def test_checker_catches_violations_of_the_lifecycle() -> None:
    cases = streams(_records())
    case = next(s for k, s in cases.items() if k.startswith("case:") and len(s) > 6)
    catalogue = _catalogue()
    assert check_case(case, catalogue)
    with pytest.raises(LifecycleError):  # the intake decision is missing
        check_case([case[0], *case[2:]], catalogue)
    late = dict(case[1], record_id="x", at="2099-01-01T09:00:00+08:00")
    with pytest.raises(LifecycleError):  # a second acceptance
        check_case([*case, late], catalogue)
    wrong = [dict(r, step="不存在") if r["kind"] == "step_started" else r for r in case]
    with pytest.raises(LifecycleError):  # a step the catalogue does not have
        check_case(wrong, catalogue)


def test_times_are_shanghai_working_hours_on_working_days() -> None:
    cal = WorkCalendar.default()
    for r in _records():
        for key in ("at", "recorded_at"):
            if key in r:
                t = _t(r[key])
                assert t.utcoffset() == timedelta(hours=8)
                assert cal.is_working_day(t.date()), r
                assert "09:00" <= t.strftime("%H:%M") <= "18:30", r


def test_planted_rule_breaches_and_shares() -> None:
    records = _records()
    by_case = {k: s for k, s in streams(records).items() if k.startswith("case:")}
    kinds = Counter(r["kind"] for r in records)
    assert kinds["rejected"] >= 8
    assert any(r["kind"] == "rejected" and not r.get("reason") for r in records)
    assert any(r["kind"] == "concluded" and r["outcome"] == "denied" for r in records)
    # second correction notice before acceptance
    assert any(
        [r["kind"] for r in s[:5]].count("correction_requested") >= 2 for s in by_case.values()
    )
    # every record is a backfill carrying recorded_at; back-dated: only the last record of
    # the case was entered days after it happened
    assert all("recorded_at" in r for s in by_case.values() for r in s)
    backdated = [s for s in by_case.values() if any(r["recorded_at"] != r["at"] for r in s)]
    assert backdated
    for s in backdated:
        assert [(r["recorded_at"] != r["at"]) for r in s] == [False] * (len(s) - 1) + [True]
        assert _t(s[-1]["recorded_at"]).date() > _t(s[-1]["at"]).date() + timedelta(days=2)
    # instant: accepted, 2+ steps and concluded within 60 seconds of submission
    instant = [
        s
        for s in by_case.values()
        if any(r["kind"] == "concluded" for r in s)
        and (_t(next(r for r in s if r["kind"] == "concluded")["at"]) - _t(s[0]["at"])).seconds
        <= 60
        and sum(r["kind"] == "step_completed" for r in s) >= 2
    ]
    assert instant
    # repeated suspension
    assert any(sum(r["kind"] == "suspended" for r in s) >= 2 for s in by_case.values())
    # bundles share bundle_id and receipt_no
    bundles: dict[str, set[str]] = defaultdict(set)
    for s in by_case.values():
        if "bundle_id" in s[0]:
            bundles[s[0]["bundle_id"]] |= {r["receipt_no"] for r in s if r["kind"] == "accepted"}
    assert bundles and all(len(receipts) == 1 for receipts in bundles.values())
    receipts = Counter(r["receipt_no"] for r in records if r["kind"] == "accepted")
    shared = {n for n, c in receipts.items() if c > 1}
    assert shared == set().union(*bundles.values()) & shared
    accepted = [r for r in records if r["kind"] == "accepted"]
    assert 0.35 <= sum("query_code" in r for r in accepted) / len(accepted) <= 0.65
    rated = [r["level"] for r in records if r["kind"] == "rated"]
    assert 0.5 <= len(rated) / kinds["concluded"] <= 0.7
    assert 0.02 <= sum(level <= 2 for level in rated) / len(rated) <= 0.1


def test_fake_identities_have_valid_checksums() -> None:
    import random

    rng = random.Random(1)
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    for _ in range(50):
        pid = fake_person_id(rng)
        assert len(pid) == 18 and pid.startswith("441900")
        assert (
            "10X98765432"[sum(int(c) * w for c, w in zip(pid[:17], weights, strict=True)) % 11]
            == pid[-1]
        )
        code = fake_credit_code(rng)
        chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        uscc_w = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
        total = sum(chars.index(c) * w for c, w in zip(code[:17], uscc_w, strict=True))
        assert len(code) == 18 and chars[(31 - total % 31) % 31] == code[-1]


def test_write_jsonl_and_main(tmp_path: Path) -> None:
    records = generate_records(cases=15, start=START, seed=3)
    out = tmp_path / "deep" / "r.jsonl"
    assert write_jsonl(records, out) == len(records)
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == records
    cli = tmp_path / "cli.jsonl"
    args = ["--cases", "15", "--start", "2026-03-02", "--seed", "3", "--out", str(cli)]
    assert main(args) == 0
    assert cli.read_bytes() == out.read_bytes()


def test_zero_cases() -> None:
    assert generate_records(cases=0, start=START) == []


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample not generated yet")
def test_committed_sample_is_valid() -> None:
    records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert len(records) > 2000
    assert all(validation_error(r) is None for r in records)
    assert set(Counter(r["kind"] for r in records)) == set(RECORD_KINDS)
    check_all(records)
