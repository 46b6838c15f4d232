"""Named domain errors.

Every refusal of an intake record carries one of these, so the reject file and
the dead-letter topic say *why* in words an operator understands.
"""

from __future__ import annotations


class DomainError(Exception):
    """A record or command that cannot be applied (拒收): the reason is the message."""

    code = "refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidRecord(DomainError):
    """The record is not valid JSON or breaks the intake schema (docs/contracts.md §2)."""

    code = "invalid_record"


class UnknownCase(DomainError):
    """The record names a case (办件) hallwatch has never seen submitted."""

    code = "unknown_case"


class UnknownComplaint(DomainError):
    """The record names a complaint (投诉) never filed."""

    code = "unknown_complaint"


class UnknownOrder(DomainError):
    """The record names a supervision order (督办单) never issued."""

    code = "unknown_order"


class UnknownItem(DomainError):
    """The service item (事项) is not in the catalogue on that date."""

    code = "unknown_item"


class UnknownStep(DomainError):
    """The approval step (审批环节) is not one of the item's steps."""

    code = "unknown_step"


class AlreadyExists(DomainError):
    """A different record already created this case, complaint or order."""

    code = "already_exists"


class CaseClosed(DomainError):
    """The case is concluded (办结) or rejected (不予受理): nothing more may happen to it."""

    code = "case_closed"


class InvalidTransition(DomainError):
    """The record does not fit the case's lifecycle at this point."""

    code = "invalid_transition"


class NotAllowed(DomainError):
    """The item does not allow it (no suspension, no or a shorter extension)."""

    code = "not_allowed"


class ReceiptConflict(DomainError):
    """The receipt number (受理号) already belongs to another case."""

    code = "receipt_conflict"


class CatalogueConflict(DomainError):
    """A catalogue version with the same valid_from exists with other content."""

    code = "catalogue_conflict"


class RecordConflict(DomainError):
    """The record's idempotency key (source, record_id) was already used for other content."""

    code = "record_conflict"
