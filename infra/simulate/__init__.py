"""A realistic intake-record generator (docs/contracts.md §2) for demos, tests and load.

Why it exists: hallwatch needs a believable feed to exercise every rule (time limits,
warnings, violations, KPIs) without real applicants' data. The generator follows the
case lifecycle the domain enforces, so every record it emits can be applied; it also
plants a few *supervision-rule* violations (second correction, late intake, missing
reasons, back-dating, instant conclusions, repeated suspensions), which are valid input
that hallwatch must record and flag.

Everything is drawn from one ``random.Random(seed)``, so the same arguments give the
same records, byte for byte. Times are Asia/Shanghai (+08:00) during working hours on
working days; the output is sorted by arrival (``recorded_at`` when present, else ``at``).

The stages, in the order they draw: hall.py (the shared state), profiles.py (who, what
and which story), cases.py with steps.py and endings.py (each case's lifecycle),
timing.py (exact times), followups.py (complaints, supervision orders), and
simulation.py, which runs them. people.py and texts.py hold the fakes and the texts.

Usage: ``python -m infra.simulate --cases 300 --start 2026-03-02 --seed 7 --out FILE``.
"""

from __future__ import annotations

from domain.vocabulary import TIME_ZONE
from infra.simulate.cli import main
from infra.simulate.jsonl import write_jsonl
from infra.simulate.people import (
    TOWNS,
    fake_company_name,
    fake_credit_code,
    fake_person_id,
    fake_person_name,
)
from infra.simulate.simulation import generate_records

__all__ = [
    "SHANGHAI",
    "TOWNS",
    "fake_company_name",
    "fake_credit_code",
    "fake_person_id",
    "fake_person_name",
    "generate_records",
    "main",
    "write_jsonl",
]

#: The halls' time zone, Asia/Shanghai: an alias of ``domain.vocabulary.TIME_ZONE``.
SHANGHAI = TIME_ZONE
