"""What the dashboard's pages need from the rest of hallwatch, as a protocol.

The composition root (infra/dashboard/) builds the one object that implements it —
the ClickHouse reader, the event store for a case's history and its hash chain,
the domain application for writes — and hands it to the pages, which import only
the query layer and the vocabulary (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.calendar import WorkCalendar
from projections.clickhouse import Reader
from projections.scope import Scope


@dataclass(frozen=True)
class User:
    """A signed-in user (inspector, department head, town manager) and what they see."""

    username: str
    name: str
    role: str
    department: str | None = None
    town: str | None = None

    @property
    def scope(self) -> Scope:
        return Scope(self.role, self.department, self.town)


@dataclass(frozen=True)
class CaseRecord:
    """A case from the event store: the view ``hallwatch case --json`` prints, as it stood
    at ``as_of``, and whether its hash chain verifies."""

    view: Mapping[str, Any]
    chain_ok: bool
    chain_detail: str


@dataclass(frozen=True)
class Written:
    """What became of a record the dashboard wrote through the domain."""

    ok: bool
    reason: str = ""
    ref: str = ""  # the new order's or complaint's id
    code: str = ""  # a complaint's query code, to track it


@dataclass(frozen=True)
class Tracked:
    """What the public tracker shows: the applicant's view, or why nothing is shown."""

    view: Mapping[str, Any] | None
    locked_until: datetime | None = None
    attempts_left: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Services(Protocol):
    """Everything a page may ask for; nothing else reaches the pages."""

    def reader(self) -> Reader | None:
        """The read models (one reader per process), or None when nothing is projected yet
        or ClickHouse cannot be reached (``reader_problem`` says which)."""

    def reader_problem(self) -> str:
        """Why ``reader`` gave None, in a sentence for the page."""

    def now(self) -> datetime:
        """The board's clock (the simulated one in a demo), in Asia/Shanghai."""

    def calendar(self) -> WorkCalendar:
        """The deployment's working days (with its override file), as ``hallwatch rank``
        judges paused cases by them."""

    def users(self) -> Mapping[str, Mapping[str, Any]]:
        """The users file's entries by username (name, bcrypt hash, role, unit)."""

    def cookie_key(self) -> str:
        """The key that signs sign-in cookies (derived from hallwatch's secret)."""

    def case_record(self, ref: str, scope: Scope, as_of: datetime | None) -> CaseRecord | None:
        """A case by case id or receipt number as it stood at ``as_of`` (None: now); None
        when there is none or ``scope`` does not reach it."""

    def issue_order(
        self,
        user: User,
        *,
        case_id: str | None,
        department: str | None,
        due_days: int,
        note: str,
    ) -> Written:
        """A supervision order (督办) through the domain, as an intake record would be."""

    def track(self, receipt_no: str, code: str) -> Tracked:
        """The applicant's view of a case by receipt number and query code, counting wrong
        codes against a lock-out."""

    def rate(self, receipt_no: str, code: str, level: int, comment: str) -> Written:
        """The applicant's rating of a concluded case (once)."""

    def complain(self, receipt_no: str, code: str, content: str) -> Written:
        """A complaint about the applicant's case; ``Written.code`` tracks it."""

    def track_complaint(self, complaint_id: str, code: str) -> Tracked:
        """The complainant's view of a complaint by its id and query code."""
