"""Who applies for what, and which story each case will tell.

Every case is profiled first (day, item, applicant, channel, town); a few are then
grouped into bundles (一件事一次办) and the rest given their traits: the less common
paths (corrections, rejections, withdrawals, denials, suspensions, extensions, late or
open cases) and the planted supervision-rule breaches (second correction, late intake,
missing reasons, back-dating, instant conclusions, repeated suspensions). A breach is
valid input that hallwatch must record and flag (docs/contracts.md §2).
"""

from __future__ import annotations

from domain.catalogue import ItemVersion
from domain.vocabulary import ApplicantKind, Channel, Outcome
from infra.simulate.hall import Hall
from infra.simulate.people import (
    PERSON_ITEM_WORDS,
    TOWNS,
    fake_company_name,
    fake_credit_code,
    fake_person_id,
    fake_person_name,
)
from infra.simulate.plans import Case, IntakePath
from infra.simulate.timing import DAY_SECONDS, quota

__all__ = ["profile_cases"]

#: Cases submitted in this many last working days may be left open at the end.
_OPEN_WINDOW_DAYS = 10

#: Channels of fully-online items and of the others, with their weights.
_ONLINE_ITEM_CHANNELS = (
    (Channel.WEB.value, Channel.APP.value, Channel.KIOSK.value, Channel.WINDOW.value),
    (45, 30, 10, 15),
)
_OTHER_ITEM_CHANNELS = (
    (Channel.WINDOW.value, Channel.WEB.value, Channel.APP.value, Channel.KIOSK.value),
    (40, 30, 20, 10),
)

#: Shares of the intake paths among plain cases, in the order they are drawn.
_INTAKE_SHARES: tuple[tuple[float, IntakePath], ...] = (
    (0.01, "correction_twice"),
    (0.03, "rejected"),
    (0.005, "rejected_no_reason"),
    (0.02, "late"),
    (0.10, "correction"),
)


def profile_cases(hall: Hall) -> list[Case]:
    """Profile ``hall.n`` cases, bundle a few and give them their traits."""
    cases = [_profile(hall, i) for i in range(hall.n)]
    _bundle(hall, cases)
    _Traits(hall, cases).assign()
    return cases


def _profile(hall: Hall, index: int) -> Case:
    rng = hall.rng
    day = rng.choice(hall.days)
    item = hall.item_on(day)
    kind, name, ident = _applicant(hall, item)
    offset = rng.randrange(0, DAY_SECONDS - 600)
    population, weights = _ONLINE_ITEM_CHANNELS if item.fully_online else _OTHER_ITEM_CHANNELS
    channel = rng.choices(population, weights)[0]
    return Case(
        index=index,
        item=item,
        day=day,
        offset=offset,
        channel=channel,
        applicant_kind=kind,
        applicant_name=name,
        applicant_id=ident,
        town=rng.choice(TOWNS),
    )


def _applicant(hall: Hall, item: ItemVersion) -> tuple[str, str, str]:
    """``(kind, name, id)``: mostly a person for personal items, an enterprise otherwise."""
    rng = hall.rng
    personal = any(word in item.item_name for word in PERSON_ITEM_WORDS)
    if rng.random() < (0.95 if personal else 0.15):
        return ApplicantKind.PERSON.value, fake_person_name(rng), fake_person_id(rng)
    return ApplicantKind.ENTERPRISE.value, fake_company_name(rng), fake_credit_code(rng)


def _bundle(hall: Hall, cases: list[Case]) -> None:
    """一件事一次办: groups of 2-3 cases, one applicant, one submission, one receipt."""
    rng = hall.rng
    target = quota(0.02, hall.n, rng)
    free = list(range(hall.n))
    rng.shuffle(free)
    bundle = 0
    while target >= 2 and len(free) >= 3:
        size = 3 if target >= 3 and rng.random() < 0.4 else 2
        members = [cases[free.pop()] for _ in range(size)]
        _join(hall, members[0], members[1:])
        for m in members:
            m.bundle = bundle
        bundle += 1
        target -= size


def _join(hall: Hall, lead: Case, others: list[Case]) -> None:
    """Give ``others`` the lead's submission and applicant, and each a different item
    when the catalogue allows."""
    codes = {lead.item.item_code}
    for m in others:
        m.day, m.offset = lead.day, lead.offset
        m.channel, m.town = lead.channel, lead.town
        m.applicant_kind, m.applicant_name = lead.applicant_kind, lead.applicant_name
        m.applicant_id = lead.applicant_id
        for _ in range(20):
            m.item = hall.item_on(m.day)
            if m.item.item_code not in codes:
                break
        codes.add(m.item.item_code)


class _Traits:
    """Hands out the traits: each a quota of cases drawn from those it can apply to."""

    def __init__(self, hall: Hall, cases: list[Case]) -> None:
        self.rng = hall.rng
        self.n = hall.n
        self.days = hall.days
        self.cases = cases

    def _quota(self, share: float, of: int | None = None) -> int:
        return quota(share, self.n if of is None else of, self.rng)

    def _pick(self, pool: list[Case], count: int) -> list[Case]:
        """Take ``count`` cases out of ``pool`` (in place), at random."""
        chosen: list[Case] = []
        for _ in range(min(count, len(pool))):
            chosen.append(pool.pop(self.rng.randrange(len(pool))))
        return chosen

    def assign(self) -> None:
        self._before_acceptance()
        accepted = [
            c
            for c in self.cases
            if not c.instant
            and c.intake in ("direct", "correction", "correction_twice", "late")
            and c.outcome == Outcome.APPROVED
        ]
        approved = self._other_outcomes(accepted)
        self._handling(approved)
        self._open_and_backdated(approved)

    def _before_acceptance(self) -> None:
        """Instant cases, then intake paths and early or late withdrawals (bundles keep
        the plain path)."""
        plain = [c for c in self.cases if c.bundle is None]
        multi_step = [c for c in plain if len(c.item.steps) >= 2]
        for c in self._pick(multi_step, self._quota(0.003)):
            c.instant = True
        pool = [c for c in plain if not c.instant]
        for share, path in _INTAKE_SHARES:
            for c in self._pick(pool, self._quota(share)):
                c.intake = path
        # Withdrawals: half while awaiting intake, half during the steps.
        for j, c in enumerate(self._pick(pool, self._quota(0.01))):
            c.outcome = Outcome.WITHDRAWN.value
            c.withdraw_early = j % 2 == 0

    def _other_outcomes(self, accepted: list[Case]) -> list[Case]:
        """Denials (the second always without a reason, later ones sometimes),
        terminations and transfers; return the cases still to be approved."""
        for j, c in enumerate(self._pick(accepted, self._quota(0.01))):
            c.outcome = Outcome.DENIED.value
            c.deny_without_reason = j == 1 or (j > 1 and self.rng.random() < 0.2)
        for c in self._pick(accepted, self._quota(0.004)):
            c.outcome = Outcome.TERMINATED.value
        for c in self._pick(accepted, self._quota(0.005)):
            c.outcome = Outcome.TRANSFERRED.value
        return [c for c in accepted if c.outcome == Outcome.APPROVED]

    def _handling(self, approved: list[Case]) -> None:
        """Suspensions (the first of three or more suspended cases twice), extensions,
        late conclusions and corrections after acceptance."""
        suspendable = [c for c in approved if c.item.suspendable]
        suspended = self._pick(suspendable, self._quota(0.05, len(suspendable)))
        for j, c in enumerate(suspended):
            c.suspensions = 2 if j == 0 and len(suspended) >= 3 else 1
        extendable = [c for c in approved if c.item.extension_days > 0 and c.intake != "late"]
        for c in self._pick(extendable, self._quota(0.03)):
            c.extended = True
        for c in self._pick(list(approved), self._quota(0.08)):
            c.late = True
        for c in self._pick(list(approved), self._quota(0.02)):
            c.mid_correction = True

    def _open_and_backdated(self, approved: list[Case]) -> None:
        """Recent cases left open at the end; closed ones whose last record is back-dated."""
        recent = set(self.days[-_OPEN_WINDOW_DAYS:])
        late_ones = [c for c in approved if c.day in recent and c.bundle is None]
        for c in self._pick(late_ones, self._quota(0.10, len(late_ones))):
            c.leave_open = True
        closed = [c for c in self.cases if not c.leave_open and not c.instant]
        for c in self._pick(closed, self._quota(0.005)):
            c.backdate = True
