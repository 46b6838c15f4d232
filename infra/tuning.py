"""Process tuning for bulk intake.

Aggregates, events and records hold no reference cycles, so reference counting
frees them; the cyclic garbage collector only rescans the aggregate cache over
and over (a fifth of intake time at 100k records).  Intake raises its
thresholds instead of turning it off, so anything cyclic is still reclaimed.
"""

from __future__ import annotations

import gc

INTAKE_GC_THRESHOLDS = (500_000, 100, 1000)


def tune_for_intake() -> None:
    """Collect rarely: used by ``hallwatch ingest``, ``demo``, the intake consumer and bench."""
    gc.set_threshold(*INTAKE_GC_THRESHOLDS)
