"""A case (办件): one application for one service item, from submission to rating.

``Case`` is assembled from its phases, each a file with its commands next to the
events they trigger: intake.py (申报, 受理, 补正), handling.py (审批环节, 特别程序,
延期, 办结), aftercare.py (送达, 好差评, links, alerts); state.py holds the fields,
guards and clock helpers they share. The status each event leads to is in
domain/lifecycle.py, every date is computed by domain/clock.py.
"""

from __future__ import annotations

from domain.model.base import keep_topics
from domain.model.case.aftercare import Aftercare
from domain.model.case.handling import Handling
from domain.model.case.intake import Intake
from domain.model.case.state import StepState

__all__ = ["Case", "StepState"]


@keep_topics
class Case(Intake, Handling, Aftercare):
    """A case (办件) and its clocks: intake, handling, steps, pauses, the rating."""

    STREAM = "case"
