"""What single records say: correction notices, suspensions, extensions and step
decisions, with their texts drawn from the pools in texts.py.

docs/contracts.md §2 lists the fields of each record kind; these builders fill them
the way a hall would, so the planners (cases.py, steps.py) only decide when.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from domain.catalogue import ItemVersion
from domain.vocabulary import Decision, Procedure
from infra.simulate.texts import (
    DENY_REASONS,
    EXTEND_REASONS,
    MATERIALS,
    PROCEDURE_REASONS,
    RETURN_OPINION,
    STEP_OPINIONS,
)

__all__ = ["correction_notice", "extension", "step_completed", "suspension"]

#: Special procedures by item-code prefix: land, agriculture, market/health, the rest.
_LAND_PROCEDURES = (Procedure.HEARING.value, Procedure.TENDER.value, Procedure.AUCTION.value)
_MARKET_PROCEDURES = (Procedure.TESTING.value, Procedure.APPRAISAL.value)
_OTHER_PROCEDURES = (
    Procedure.EXPERT_REVIEW.value,
    Procedure.HEARING.value,
    Procedure.APPRAISAL.value,
    Procedure.TESTING.value,
)


def correction_notice(rng: random.Random) -> dict[str, Any]:
    """A correction notice (一次性补正告知): one to three missing materials."""
    return {"materials": rng.sample(MATERIALS, rng.randint(1, 3))}


def suspension(rng: random.Random, item: ItemVersion) -> dict[str, Any]:
    """A special procedure (特别程序) fitting the item, its reason and expected days."""
    code = item.item_code
    if code.startswith("ZRZY"):
        procedure = rng.choice(_LAND_PROCEDURES)
    elif code.startswith("NY"):
        procedure = Procedure.QUARANTINE.value
    elif code.startswith(("SCJG", "SHW")):
        procedure = rng.choice(_MARKET_PROCEDURES)
    else:
        procedure = rng.choice(_OTHER_PROCEDURES)
    return {
        "procedure": procedure,
        "reason": PROCEDURE_REASONS[procedure],
        "expected_days": rng.choice((3, 5, 5, 10, 15)),
    }


def extension(
    rng: random.Random, leaders: Mapping[str, str], item: ItemVersion, days: int
) -> dict[str, Any]:
    """An extension (延期) of ``days``, approved by the department's leader."""
    approver = f"{leaders[item.department]}（{item.department}分管负责人）"
    return {"days": days, "reason": rng.choice(EXTEND_REASONS), "approved_by": approver}


def step_completed(
    rng: random.Random, step: str, handler: str, *, final: bool, deny: bool
) -> dict[str, Any]:
    """A step's decision: deny (final only), pass when ``final``, else return (退回)."""
    if deny:
        decision = Decision.DENY.value
    else:
        decision = Decision.PASS.value if final else Decision.RETURN.value
    done: dict[str, Any] = {"step": step, "handler": handler, "decision": decision}
    if deny:
        done["opinion"] = rng.choice(DENY_REASONS)
    elif not final:
        done["opinion"] = RETURN_OPINION
    elif rng.random() < 0.3:
        done["opinion"] = rng.choice(STEP_OPINIONS)
    return done
