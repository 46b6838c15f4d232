"""How a case ends: its conclusion (办结), then delivery (送达) and rating (好差评).

Online conclusions and deliveries, site visits and bad reviews feed the KPIs, so their
shares follow the channel and the outcome as in a real hall; a late or denied case gets
worse ratings, and most bad reviews are answered (docs/contracts.md §2).
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from domain.vocabulary import Channel, DeliveryMethod, Outcome, RecordKind
from infra.simulate.hall import Hall
from infra.simulate.plans import Case, Planned
from infra.simulate.texts import DENY_REASONS, OUTCOME_REASONS, RATING_COMMENTS, RATING_REPLIES

__all__ = ["conclude", "concluded", "plan_after"]

#: Delivery methods for online applications or items, and for the others, with weights.
_ONLINE_DELIVERY = (
    (DeliveryMethod.ELECTRONIC.value, DeliveryMethod.POST.value, DeliveryMethod.WINDOW.value),
    (60, 20, 20),
)
_OTHER_DELIVERY = (
    (DeliveryMethod.WINDOW.value, DeliveryMethod.POST.value, DeliveryMethod.ELECTRONIC.value),
    (60, 25, 15),
)
#: Rating levels and their weights: after a denial or a late case, and otherwise.
_LEVELS = (1, 2, 3, 4, 5)
_UNHAPPY_WEIGHTS = (10, 15, 25, 25, 25)
_HAPPY_WEIGHTS = (1, 2, 7, 20, 70)


def concluded(rng: random.Random, case: Case, outcome: str) -> dict[str, Any]:
    """The conclusion's fields: outcome, reason where one is due, online or not."""
    fields: dict[str, Any] = {"outcome": outcome}
    if outcome == Outcome.DENIED:
        if not case.deny_without_reason:
            fields["reason"] = rng.choice(DENY_REASONS)
        elif rng.random() < 0.5:
            fields["reason"] = ""
    elif outcome in OUTCOME_REASONS:
        fields["reason"] = OUTCOME_REASONS[outcome]
    # 网上办结: fully-online items always; other online submissions mostly.
    if case.channel == Channel.WINDOW:
        online = case.item.fully_online and rng.random() < 0.3
    else:
        online = case.item.fully_online or rng.random() < 0.7
    fields["online"] = online
    return fields


def conclude(hall: Hall, case: Case, day: date, outcome: str) -> None:
    """Plan the conclusion on ``day``, then what follows it."""
    fields = concluded(hall.rng, case, outcome)
    case.plan.append(Planned(day, RecordKind.CONCLUDED.value, fields))
    plan_after(hall, case, day, outcome)


def plan_after(hall: Hall, case: Case, day: date, outcome: str) -> None:
    """Delivery (送达) and rating (好差评) after the conclusion on ``day``."""
    last = _plan_delivery(hall, case, day, outcome)
    _plan_rating(hall, case, last, outcome)


def _plan_delivery(hall: Hall, case: Case, day: date, outcome: str) -> date:
    """Most approvals and denials are delivered; return the day of the last record."""
    rng = hall.rng
    if outcome not in (Outcome.APPROVED, Outcome.DENIED):
        return day
    if rng.random() >= (0.95 if outcome == Outcome.APPROVED else 0.85):
        return day
    online = case.channel != Channel.WINDOW
    population, weights = _ONLINE_DELIVERY if case.item.fully_online or online else _OTHER_DELIVERY
    method = rng.choices(population, weights)[0]
    visits = int(case.channel in (Channel.WINDOW, Channel.KIOSK))
    visits += int(method == DeliveryMethod.WINDOW)
    electronic = method == DeliveryMethod.ELECTRONIC
    last = hall.clock.add(day, 0 if electronic else rng.randint(0, 3))
    fields = {"method": method, "site_visits": visits}
    case.plan.append(Planned(last, RecordKind.DELIVERED.value, fields))
    return last


def _plan_rating(hall: Hall, case: Case, last: date, outcome: str) -> None:
    """A rating for most concluded cases (fewer withdrawn, none terminated or
    transferred), and an answer to most bad ones."""
    rng, clock = hall.rng, hall.clock
    chance = 0.2 if outcome == Outcome.WITHDRAWN else 0.6
    if outcome in (Outcome.TERMINATED, Outcome.TRANSFERRED) or rng.random() >= chance:
        return
    unhappy = outcome == Outcome.DENIED or case.late
    level = rng.choices(_LEVELS, _UNHAPPY_WEIGHTS if unhappy else _HAPPY_WEIGHTS)[0]
    rated: dict[str, Any] = {"level": level}
    if rng.random() < 0.5:
        rated["comment"] = rng.choice(RATING_COMMENTS[level])
    last = clock.add(last, rng.randint(0, 3))
    case.plan.append(Planned(last, RecordKind.RATED.value, rated))
    answer = {1: 0.95, 2: 0.95, 3: 0.1}.get(level, 0.03)
    if rng.random() < answer:
        wait = rng.randint(1, 4) if rng.random() < 0.88 else rng.randint(6, 12)
        reply = RATING_REPLIES[2] if level >= 3 else rng.choice(RATING_REPLIES[:2])
        day = clock.add(last, wait)
        case.plan.append(Planned(day, RecordKind.RATING_ANSWERED.value, {"reply": reply}))
