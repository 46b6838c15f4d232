"""A bundle (一件事一次办) of cases applied for together, and the receipt-number index.

One receipt number (受理号) belongs to one case, or to the cases of one bundle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.errors import ReceiptConflict
from domain.model.base import HallAggregate, RecordContext, keep_topics, stream_id


@keep_topics
class Bundle(HallAggregate):
    """一件事一次办: several items applied for together, under one receipt."""

    STREAM = "bundle"

    if TYPE_CHECKING:
        bundle_id: str
        case_ids: list[str]

    @classmethod
    def open(cls, ctx: RecordContext, *, bundle_id: str, case_id: str) -> Bundle:
        return cls._open(
            cls.Opened, stream_id("bundle", bundle_id), ctx, bundle_id=bundle_id, case_id=case_id
        )

    class Opened(HallAggregate.Created):
        bundle_id: str
        case_id: str

        def apply(self, b: Bundle) -> None:
            b.bundle_id = self.bundle_id
            b.case_ids = [self.case_id]

    def add_case(self, ctx: RecordContext, *, case_id: str) -> None:
        if case_id not in self.case_ids:
            self._emit(self.CaseAdded, ctx, case_id=case_id)

    class CaseAdded(HallAggregate.Event):
        case_id: str

        def apply(self, b: Bundle) -> None:
            b.case_ids.append(self.case_id)


@keep_topics
class Receipt(HallAggregate):
    """受理号 index: which case (or bundle of cases) a receipt number belongs to."""

    STREAM = "receipt"

    if TYPE_CHECKING:
        receipt_no: str
        case_ids: list[str]
        bundle_id: str | None

    @classmethod
    def issue(
        cls, ctx: RecordContext, *, receipt_no: str, case_id: str, bundle_id: str | None
    ) -> Receipt:
        return cls._open(
            cls.Issued,
            stream_id("receipt", receipt_no),
            ctx,
            receipt_no=receipt_no,
            case_id=case_id,
            bundle_id=bundle_id,
        )

    class Issued(HallAggregate.Created):
        receipt_no: str
        case_id: str
        bundle_id: str | None

        def apply(self, r: Receipt) -> None:
            r.receipt_no = self.receipt_no
            r.case_ids = [self.case_id]
            r.bundle_id = self.bundle_id

    def check_can_add(self, case_id: str, bundle_id: str | None) -> None:
        if case_id in self.case_ids:
            return
        if self.bundle_id is None or bundle_id != self.bundle_id:
            raise ReceiptConflict(
                f"receipt number {self.receipt_no} was already issued to case {self.case_ids[0]}"
            )

    def add_case(self, ctx: RecordContext, *, case_id: str) -> None:
        if case_id not in self.case_ids:
            self._emit(self.CaseAdded, ctx, case_id=case_id)

    class CaseAdded(HallAggregate.Event):
        case_id: str

        def apply(self, r: Receipt) -> None:
            r.case_ids.append(self.case_id)
