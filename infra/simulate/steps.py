"""A case's handling after acceptance: its steps in catalogue order, with the case's
suspensions, correction, extension, returned attempts, and the way it ends (concluded,
denied at a step, withdrawn or terminated midway, or left open).

Days are counted as "active" working days (the clock runs) plus pauses (suspension,
correction), exactly as hallwatch counts them for the due date, so a case meant to be
on time is, and a case meant to be late is late (docs/contracts.md §2).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.vocabulary import Outcome, RecordKind
from infra.simulate.endings import conclude
from infra.simulate.fields import correction_notice, extension, step_completed, suspension
from infra.simulate.hall import Hall
from infra.simulate.plans import Case, Planned

__all__ = ["plan_steps"]


def plan_steps(hall: Hall, case: Case, accept_day: date, clock_start: date) -> None:
    """Plan the steps of an accepted case; its clock started on ``clock_start``."""
    schedule = _schedule(hall, case, accept_day, clock_start)
    _Walk(hall, case, accept_day, schedule).run()


@dataclass(frozen=True)
class _Schedule:
    """What is drawn before the steps are walked. Step indexes are -1 when unused."""

    days: list[int]  # working days per step (its final attempt)
    returns: dict[int, int]  # working days of a returned first attempt, per step
    extension: int  # days of the extension, 0 for none
    ext_at: int  # the step during which the extension is granted
    deny_at: int  # the step that denies (when the case is denied)
    stop_at: int  # the step before which the case is withdrawn or terminated
    open_at: int  # how many step records are written before the run ends
    suspend_at: list[int]  # the step of each suspension
    correct_at: int  # the step before which materials are corrected


def _schedule(hall: Hall, case: Case, accept_day: date, clock_start: date) -> _Schedule:
    rng, item = hall.rng, case.item
    count = len(item.steps)
    elapsed = hall.clock.between(clock_start, accept_day)
    granted = 0
    if case.extended:
        granted = rng.randint(max(1, item.extension_days // 2), item.extension_days)
    days, returns = _durations(rng, case, item.promised_days + granted - elapsed)
    last = count - 1
    deny_at = last - min(rng.randrange(3), last)
    stops = case.outcome in (Outcome.WITHDRAWN, Outcome.TERMINATED)
    stop_at = rng.randrange(count) if stops else -1
    open_at = rng.randrange(1, 2 * count + 1) if case.leave_open else -1
    suspend_at = [rng.randrange(count) for _ in range(case.suspensions)]
    correct_at = rng.randrange(1, count) if case.mid_correction and last > 0 else -1
    before_due = max(1, item.promised_days - elapsed)
    ext_at = max(i for i in range(count) if sum(days[:i]) < before_due) if granted else -1
    return _Schedule(
        days, returns, granted, ext_at, deny_at, stop_at, open_at, suspend_at, correct_at
    )


def _durations(rng: random.Random, case: Case, budget: int) -> tuple[list[int], dict[int, int]]:
    """Working days per step (and per returned first attempt), fitted to the story:
    within ``budget`` when on time, over it when the case is to be late."""
    steps = case.item.steps
    days = [round(rng.triangular(0, s.days, s.days * 0.5)) for s in steps]
    returns = {i: rng.randint(0, 1) for i in range(len(steps)) if rng.random() < 0.03}
    total = sum(days) + sum(returns.values())
    if case.late:
        target = max(budget, 0) + rng.randint(1, 6)
    elif case.extended:
        target = min(budget, case.item.promised_days + rng.randint(0, case.item.extension_days))
    else:
        target = min(total, max(budget, 0))
    while total < target:
        days[rng.randrange(len(days))] += 1
        total += 1
    while total > target:
        i = max(range(len(days)), key=lambda k: days[k])
        if days[i] == 0:  # only returned attempts are left to shorten
            for k in list(returns):
                if returns[k] and total > target:
                    returns[k] -= 1
                    total -= 1
            break
        days[i] -= 1
        total -= 1
    return days, returns


class _Walk:
    """Lays out the steps of one case, following its schedule."""

    def __init__(self, hall: Hall, case: Case, accept_day: date, schedule: _Schedule) -> None:
        self.hall = hall
        self.rng = hall.rng
        self.case = case
        self.accept_day = accept_day
        self.s = schedule
        self.active = 0  # working days with the clock running, since acceptance
        self.pause = 0  # working days with the clock stopped
        self.written = 0  # step records so far: an open case stops at s.open_at

    def when(self) -> date:
        return self.hall.clock.add(self.accept_day, self.active + self.pause)

    def add(self, kind: RecordKind, fields: dict[str, Any]) -> None:
        self.case.plan.append(Planned(self.when(), kind.value, fields))

    def run(self) -> None:
        for i, step in enumerate(self.case.item.steps):
            if i == self.s.stop_at:
                conclude(self.hall, self.case, self.when(), self.case.outcome)
                return
            if i == self.s.correct_at:
                self._correction()
            if not self._step(i, step.name):
                return
        if self.written != self.s.open_at:
            conclude(self.hall, self.case, self.when(), self.case.outcome)

    def _correction(self) -> None:
        """A correction notice after acceptance: the clock stops until materials come."""
        self.add(RecordKind.CORRECTION_REQUESTED, correction_notice(self.rng))
        self.pause += self.rng.randint(1, 5)
        self.add(RecordKind.CORRECTION_RECEIVED, {})

    def _step(self, i: int, name: str) -> bool:
        """One step: a returned first attempt, if any, then the final one. Return whether
        the case goes on to the next step."""
        handler = self.hall.handler(self.case)
        final_days = self.s.days[i]
        attempts = [self.s.returns[i], final_days] if i in self.s.returns else [final_days]
        for n, length in enumerate(attempts):
            final = n == len(attempts) - 1
            if not self._attempt(i, name, handler, length, first=n == 0, final=final):
                return False
        return True

    def _attempt(
        self, i: int, name: str, handler: str, length: int, *, first: bool, final: bool
    ) -> bool:
        """Start, work ``length`` days (with any suspensions) and complete one attempt.
        Return whether the case goes on."""
        if self.written == self.s.open_at:
            return False
        self.add(RecordKind.STEP_STARTED, {"step": name, "handler": handler})
        self.written += 1
        if i == self.s.ext_at and first:
            granted = extension(self.rng, self.hall.leaders, self.case.item, self.s.extension)
            self.add(RecordKind.EXTENDED, granted)
        self._work(length, self.s.suspend_at.count(i) if final else 0)
        if self.written == self.s.open_at:
            return False
        deny = self.case.outcome == Outcome.DENIED and i == self.s.deny_at and final
        done = step_completed(self.rng, name, handler, final=final, deny=deny)
        self.add(RecordKind.STEP_COMPLETED, done)
        self.written += 1
        if deny:
            conclude(self.hall, self.case, self.when(), Outcome.DENIED.value)
            return False
        return True

    def _work(self, length: int, suspensions: int) -> None:
        """``length`` active days, interrupted by ``suspensions`` special procedures."""
        before = self.rng.randint(0, length) if suspensions else length
        self.active += before
        for _ in range(suspensions):
            suspended = suspension(self.rng, self.case.item)
            self.add(RecordKind.SUSPENDED, suspended)
            self.pause += max(1, suspended["expected_days"] + self.rng.randint(-2, 3))
            self.add(RecordKind.RESUMED, {})
        self.active += length - before
