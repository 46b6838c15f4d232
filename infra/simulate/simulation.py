"""One run of the generator, stage by stage: profile every case, plan it, number it,
time it, write its records, then add complaints and supervision orders and merge all
streams by arrival.

Each stage draws from the hall's one random generator in turn, so the stages' order
below is part of the output. The merged records are numbered in arrival order, as
hallwatch reads them (docs/contracts.md §2).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from domain.catalogue import Catalogue, parse_catalogue, sample_catalogue_path
from domain.vocabulary import RecordKind
from infra.simulate.cases import BundleAcceptance, plan_case
from infra.simulate.followups import complaints, supervision_orders
from infra.simulate.hall import Hall
from infra.simulate.plans import Case
from infra.simulate.profiles import profile_cases
from infra.simulate.timing import DAY_SECONDS, local_time, rfc3339

__all__ = ["generate_records"]


def generate_records(
    *,
    cases: int,
    start: date,
    seed: int = 7,
    source: str = "dongguan-hall",
    catalogue_path: Path | None = None,
) -> list[dict[str, Any]]:
    """Generate the intake records of ``cases`` cases submitted from ``start`` on.

    Deterministic for the arguments; sorted by arrival; ``record_id`` is
    ``f"{source}-{n:08d}"`` in arrival order. The catalogue defaults to the shipped one.
    """
    if cases < 0:
        raise ValueError(f"cases must be >= 0, got {cases}")
    parsed = parse_catalogue(catalogue_path or sample_catalogue_path())
    catalogue = Catalogue(parsed.versions)
    if len(catalogue) == 0:
        raise ValueError("the catalogue has no usable item")
    return _run(Hall(cases, start, seed, source, catalogue))


def _run(hall: Hall) -> list[dict[str, Any]]:
    """Profiles, then per-case plans, then case numbers, exact times, receipts and the
    merge with the other streams."""
    cases = profile_cases(hall)
    bundle_accept: BundleAcceptance = {}
    for c in sorted(cases, key=lambda c: (c.bundle is None, c.bundle or 0, c.index)):
        plan_case(hall, c, bundle_accept)
    _number_cases(cases)
    for c in cases:
        c.records = hall.timed(c.plan)
    _number_receipts(hall, cases)
    streams = [hall.stream(c.records, {"case_id": c.case_id}) for c in cases]
    _backdate(hall, cases, streams)
    streams.extend(complaints(hall, cases))
    streams.extend(supervision_orders(hall, cases))
    return _merge(streams, hall.source)


def _number_cases(cases: list[Case]) -> None:
    """Case numbers follow submission order, per day: DG + date + 5 digits."""
    per_day: dict[date, int] = {}
    for c in sorted(cases, key=lambda c: (c.day, c.offset, c.index)):
        per_day[c.day] = per_day.get(c.day, 0) + 1
        c.case_id = f"DG{c.day:%Y%m%d}{per_day[c.day]:05d}"


def _number_receipts(hall: Hall, cases: list[Case]) -> None:
    """Receipt numbers in acceptance order, per day: SL + date + 5 digits, half of them
    with a query code; a bundle shares its first member's."""
    rng = hall.rng
    accepted = [
        (at, c.index, fields)
        for c in cases
        for at, kind, fields in c.records
        if kind == RecordKind.ACCEPTED
    ]
    per_day: dict[date, int] = {}
    bundle_receipt: dict[int, tuple[str, str | None]] = {}
    for at, index, fields in sorted(accepted, key=lambda a: (a[0], a[1])):
        c = cases[index]
        if c.bundle is not None and c.bundle in bundle_receipt:
            receipt, query = bundle_receipt[c.bundle]
        else:
            day = at.date()
            per_day[day] = per_day.get(day, 0) + 1
            receipt = f"SL{day:%Y%m%d}{per_day[day]:05d}"
            query = None
            if rng.random() < 0.5:
                query = "".join(rng.choice("0123456789") for _ in range(6))
            if c.bundle is not None:
                bundle_receipt[c.bundle] = (receipt, query)
        fields["receipt_no"] = receipt
        if query is not None:
            fields["query_code"] = query


def _backdate(hall: Hall, cases: list[Case], streams: list[list[dict[str, Any]]]) -> None:
    """补录 (a planted breach): the last record of a back-dated case is entered 3-5
    working days after it happened."""
    rng = hall.rng
    for c in cases:
        if c.backdate and c.records:
            last = streams[c.index][-1]
            at = datetime.fromisoformat(last["at"])
            later = hall.clock.add(at.date(), rng.randint(3, 5))
            recorded = local_time(later, rng.randrange(0, DAY_SECONDS))
            streams[c.index][-1] = {**last, "recorded_at": rfc3339(recorded)}


def _merge(streams: Sequence[Sequence[dict[str, Any]]], source: str) -> list[dict[str, Any]]:
    """All records by arrival; ties keep stream and in-stream order (deterministic).
    ``record_id`` is ``f"{source}-{n:08d}"`` in that order."""
    keyed: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for s, stream in enumerate(streams):
        for k, record in enumerate(stream):
            arrival = datetime.fromisoformat(record.get("recorded_at") or record["at"])
            keyed.append((arrival, s, k, record))
    keyed.sort(key=lambda t: (t[0], t[1], t[2]))
    out: list[dict[str, Any]] = []
    for n, (_, _, _, record) in enumerate(keyed, start=1):
        record["record_id"] = f"{source}-{n:08d}"
        out.append(record)
    return out
