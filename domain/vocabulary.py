"""hallwatch's words (词汇表), each defined once with its Chinese and English label.

Events, intake records, SQL, the command line and the dashboard's labels are all
built from these names; docs/domain.md explains what each one means.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from typing import Self
from zoneinfo import ZoneInfo

#: The halls' time zone (北京时间): dates, midnights and months are taken here.
TIME_ZONE: ZoneInfo = ZoneInfo("Asia/Shanghai")


def plain(*words: str) -> frozenset[str]:
    """A set of words as plain strings: membership tests on plain strings stay on the fast
    path (a set of enum members compares each hit through the enum type)."""
    return frozenset(str.__str__(w) for w in words)


class Word(StrEnum):
    """A domain word: its value is what records, events and SQL carry (a plain ``str``
    compares equal to it); ``zh`` and ``en`` are what people read."""

    zh: str
    en: str

    def __new__(cls, value: str, zh: str = "", en: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh = zh or value
        member.en = en or value.replace("_", " ")
        return member

    def label(self, lang: str = "zh") -> str:
        """The label in ``lang`` ("zh" or "en")."""
        return self.en if lang == "en" else self.zh

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """Every value, in definition order, as plain strings."""
        return tuple(m.value for m in cls)


# --- cases (办件) -------------------------------------------------------------------


class CaseStatus(Word):
    """Where a case stands; domain/lifecycle.py says which event leads to which."""

    AWAITING_INTAKE = "awaiting_intake", "待受理", "awaiting intake decision"
    AWAITING_MATERIALS = "awaiting_materials", "待补正", "awaiting corrected materials"
    IN_PROGRESS = "in_progress", "办理中", "in progress"
    CORRECTION_PAUSED = "correction_paused", "补正中（已受理）", "paused for correction"
    SUSPENDED = "suspended", "特别程序中", "suspended (special procedure)"
    REJECTED = "rejected", "不予受理", "rejected at intake"
    CONCLUDED = "concluded", "办结", "concluded"


#: Not yet concluded or rejected (在办).
OPEN_STATUSES: frozenset[str] = plain(
    CaseStatus.AWAITING_INTAKE,
    CaseStatus.AWAITING_MATERIALS,
    CaseStatus.IN_PROGRESS,
    CaseStatus.CORRECTION_PAUSED,
    CaseStatus.SUSPENDED,
)
#: Accepted and open: the handling clock exists (running or stopped).
ACCEPTED_OPEN: frozenset[str] = plain(
    CaseStatus.IN_PROGRESS, CaseStatus.CORRECTION_PAUSED, CaseStatus.SUSPENDED
)
#: Accepted, open and its clock stopped (暂停计时): a suspension or a correction.
PAUSED_STATUSES: frozenset[str] = plain(CaseStatus.CORRECTION_PAUSED, CaseStatus.SUSPENDED)
#: Open with a clock stopped: waiting for corrected materials or a special procedure (暂停计时).
CLOCK_STOPPED: frozenset[str] = plain(
    CaseStatus.AWAITING_MATERIALS, CaseStatus.CORRECTION_PAUSED, CaseStatus.SUSPENDED
)
#: Not open: the case's lifecycle has ended.
CLOSED_STATUSES: frozenset[str] = plain(CaseStatus.REJECTED, CaseStatus.CONCLUDED)


class CorrectionStage(Word):
    """When a correction notice (补正) came: before or after acceptance."""

    INTAKE = "intake", "受理前", "before acceptance"
    HANDLING = "handling", "受理后", "after acceptance"


class Channel(Word):
    """How an application or complaint reached the hall (申报渠道)."""

    WEB = "web", "网厅", "web hall"
    WINDOW = "window", "窗口", "window"
    KIOSK = "kiosk", "自助终端", "kiosk"
    APP = "app", "小程序/APP", "app"
    HOTLINE = "hotline", "12345热线", "12345 hotline"


#: Channels that count as online (网上办理): web, app and kiosk.
ONLINE_CHANNELS: frozenset[str] = plain(Channel.WEB, Channel.APP, Channel.KIOSK)


class ApplicantKind(Word):
    PERSON = "person", "个人", "person"
    ENTERPRISE = "enterprise", "企业", "enterprise"


class Decision(Word):
    """A step's decision (审批意见)."""

    PASS = "pass", "通过", "pass"
    RETURN = "return", "退回", "returned"
    DENY = "deny", "不同意", "deny"


class Outcome(Word):
    """How a case was concluded (办结结果)."""

    APPROVED = "approved", "准予许可", "approved"
    DENIED = "denied", "不予许可", "denied"
    TRANSFERRED = "transferred", "转报", "transferred"
    TERMINATED = "terminated", "终止", "terminated"
    WITHDRAWN = "withdrawn", "撤回", "withdrawn"


class Procedure(Word):
    """A special procedure that stops the clock (特别程序, 行政许可法 art. 45)."""

    HEARING = "hearing", "听证", "hearing"
    TENDER = "tender", "招标", "tender"
    AUCTION = "auction", "拍卖", "auction"
    TESTING = "testing", "检验检测", "testing"
    QUARANTINE = "quarantine", "检疫", "quarantine"
    APPRAISAL = "appraisal", "鉴定", "appraisal"
    EXPERT_REVIEW = "expert_review", "专家评审", "expert review"


class DeliveryMethod(Word):
    """How a result reached the applicant (送达方式)."""

    WINDOW = "window", "窗口领取", "window pickup"
    POST = "post", "邮寄", "post"
    ELECTRONIC = "electronic", "电子证照", "electronic licence"


class Category(Word):
    """A service item's category (事项类别)."""

    LICENCE = "licence", "行政许可", "administrative licence"
    OTHER_APPROVAL = "other_approval", "非行政许可审批", "other approval"
    PUBLIC_SERVICE = "public_service", "公共服务", "public service"
    SOCIAL_AFFAIRS = "social_affairs", "社会事务服务", "social affairs"


class Rating(Word):
    """好差评: five levels; level 1 is the worst."""

    VERY_DISSATISFIED = "1", "非常不满意", "very dissatisfied"
    DISSATISFIED = "2", "不满意", "dissatisfied"
    FAIRLY_SATISFIED = "3", "基本满意", "fairly satisfied"
    SATISFIED = "4", "满意", "satisfied"
    VERY_SATISFIED = "5", "非常满意", "very satisfied"


#: Ratings at or below this level are bad reviews (差评) that must be answered.
BAD_RATING_MAX = 2


def is_bad_rating(level: int) -> bool:
    """A bad review (差评): 不满意 or 非常不满意."""
    return level <= BAD_RATING_MAX


# --- complaints and supervision orders -----------------------------------------------


class ComplaintStatus(Word):
    FILED = "filed", "已登记", "filed"
    ACCEPTED = "accepted", "已受理", "accepted"
    ASSIGNED = "assigned", "已转办", "assigned"
    REPLIED = "replied", "已答复", "replied"
    CLOSED = "closed", "已办结", "closed"
    REJECTED = "rejected", "不予受理", "rejected"


#: A complaint that still owes a reply (待答复).
COMPLAINT_AWAITING_REPLY: frozenset[str] = plain(ComplaintStatus.ACCEPTED, ComplaintStatus.ASSIGNED)


class OrderStatus(Word):
    """A supervision order (督办单)."""

    ORDERED = "ordered", "已督办", "ordered"
    ANSWERED = "answered", "已反馈", "answered"


# --- intake records (docs/contracts.md §2) -------------------------------------------


class RecordKind(Word):
    SUBMITTED = "submitted", "申报", "submitted"
    ACCEPTED = "accepted", "受理", "accepted"
    REJECTED = "rejected", "不予受理", "rejected"
    CORRECTION_REQUESTED = "correction_requested", "一次性补正告知", "correction requested"
    CORRECTION_RECEIVED = "correction_received", "补正材料收到", "correction received"
    STEP_STARTED = "step_started", "环节开始", "step started"
    STEP_COMPLETED = "step_completed", "环节完成", "step completed"
    SUSPENDED = "suspended", "特别程序开始", "suspended"
    RESUMED = "resumed", "特别程序结束", "resumed"
    EXTENDED = "extended", "延期", "extended"
    CONCLUDED = "concluded", "办结", "concluded"
    DELIVERED = "delivered", "送达", "delivered"
    RATED = "rated", "评价", "rated"
    RATING_ANSWERED = "rating_answered", "差评整改答复", "rating answered"
    COMPLAINT_FILED = "complaint_filed", "投诉登记", "complaint filed"
    COMPLAINT_ACCEPTED = "complaint_accepted", "投诉受理", "complaint accepted"
    COMPLAINT_REJECTED = "complaint_rejected", "投诉不予受理", "complaint rejected"
    COMPLAINT_ASSIGNED = "complaint_assigned", "投诉转办", "complaint assigned"
    COMPLAINT_REPLIED = "complaint_replied", "投诉答复", "complaint replied"
    COMPLAINT_CLOSED = "complaint_closed", "投诉办结", "complaint closed"
    SUPERVISION_ORDERED = "supervision_ordered", "督办", "supervision ordered"
    SUPERVISION_ANSWERED = "supervision_answered", "督办反馈", "supervision answered"


class StreamKind(Word):
    """What an event stream is about."""

    CASE = "case", "办件", "case"
    COMPLAINT = "complaint", "投诉", "complaint"
    SUPERVISION = "supervision", "督办单", "supervision order"
    BUNDLE = "bundle", "一件事", "bundle"
    RECEIPT = "receipt", "受理号", "receipt"
    CATALOGUE = "catalogue", "事项目录", "catalogue"


def record_stream(kind: str) -> str:
    """The stream kind an intake record of ``kind`` is about (its idempotency stream)."""
    if kind.startswith("complaint_"):
        return StreamKind.COMPLAINT.value
    if kind.startswith("supervision_"):
        return StreamKind.SUPERVISION.value
    return StreamKind.CASE.value


#: The record field that names each stream kind's stream.
STREAM_KEY: dict[str, str] = {
    StreamKind.CASE: "case_id",
    StreamKind.COMPLAINT: "complaint_id",
    StreamKind.SUPERVISION: "order_id",
    StreamKind.BUNDLE: "bundle_id",
    StreamKind.RECEIPT: "receipt_no",
}


# --- alerts and violations (电子监察) ------------------------------------------------


class Card(Word):
    """The colour of an alert card on the board."""

    YELLOW = "yellow", "黄牌", "yellow card"
    RED = "red", "红牌", "red card"


class BoardCard(Word):
    """Where an open case stands on the inspectors' board (domain/alerts.py's rules)."""

    RED = "red", "红牌（超时）", "red (overdue)"
    YELLOW = "yellow", "黄牌（预警）", "yellow (warning)"
    STOPPED = "stopped", "暂停计时", "clock stopped"
    ON_TRACK = "on_track", "正常", "on track"


class AlertKind(Word):
    """An alert raised by time (预警 / 超时): domain/alerts.py says when each falls due."""

    card: Card

    CASE_WARNING = "case_warning", "预警", "early warning"
    CASE_OVERDUE = "case_overdue", "超时", "overdue"
    STEP_OVERDUE = "step_overdue", "环节超时", "step overdue"
    INTAKE_OVERDUE = "intake_overdue", "受理超时", "intake decision overdue"
    COMPLAINT_OVERDUE = "complaint_overdue", "投诉超时", "complaint overdue"
    RATING_UNANSWERED = "rating_unanswered", "差评未整改", "bad review unanswered"
    SUPERVISION_UNANSWERED = "supervision_unanswered", "督办超期未反馈", "order unanswered"


for _kind in AlertKind:
    _kind.card = Card.YELLOW if _kind is AlertKind.CASE_WARNING else Card.RED


class ViolationKind(Word):
    """A supervision rule broken by a record (违规): recorded and flagged, never refused."""

    SECOND_CORRECTION = "second_correction", "二次补正", "second correction notice"
    LATE_INTAKE_DECISION = "late_intake_decision", "受理超期", "late intake decision"
    MISSING_REASON = "missing_reason", "未说明理由", "no reason given"
    SKIPPED_STEPS = "skipped_steps", "跳过环节", "steps skipped"
    BACKDATED_ENTRY = "backdated_entry", "补录", "back-dated entry"
    INSTANT_CONCLUSION = "instant_conclusion", "体外循环", "instant conclusion"
    REPEATED_SUSPENSION = "repeated_suspension", "多次中止", "repeated suspension"


class FlagCategory(Word):
    """What a row of the alert list is."""

    ALERT = "alert", "预警/超时", "alert"
    VIOLATION = "violation", "违规", "violation"


ALERT_KINDS: tuple[str, ...] = AlertKind.values()
VIOLATION_KINDS: tuple[str, ...] = ViolationKind.values()


# --- events, in plain words (the case history, the public tracker) ----------------------


class EventName(Word):
    """Every event a stream records, named as people read it."""

    CASE_SUBMITTED = "case.submitted", "已申报", "application submitted"
    CASE_ACCEPTED = "case.accepted", "已受理", "accepted"
    CASE_REJECTED = "case.rejected", "不予受理", "rejected at intake"
    CASE_CORRECTION_REQUESTED = (
        "case.correction_requested",
        "一次性告知补正材料",
        "corrections requested",
    )
    CASE_CORRECTION_RECEIVED = "case.correction_received", "补正材料已收到", "corrections received"
    CASE_STEP_STARTED = "case.step_started", "审批环节开始", "approval step started"
    CASE_STEP_COMPLETED = "case.step_completed", "审批环节完成", "approval step completed"
    CASE_SUSPENDED = "case.suspended", "特别程序（暂停计时）", "special procedure (clock stopped)"
    CASE_RESUMED = "case.resumed", "特别程序结束", "special procedure ended"
    CASE_EXTENDED = "case.extended", "延期", "extended"
    CASE_CONCLUDED = "case.concluded", "办结", "concluded"
    CASE_DELIVERED = "case.delivered", "结果已送达", "result delivered"
    CASE_RATED = "case.rated", "已评价", "rated"
    CASE_RATING_ANSWERED = "case.rating_answered", "差评整改答复", "review answered"
    CASE_VIOLATION_FLAGGED = "case.violation_flagged", "违规", "violation flagged"
    CASE_ALERT_RAISED = "case.alert_raised", "预警/超时", "alert raised"
    CASE_SUPERVISION_ORDERED = "case.supervision_ordered", "督办", "supervision ordered"
    CASE_SUPERVISION_ANSWERED = "case.supervision_answered", "督办反馈", "supervision answered"
    CASE_COMPLAINT_LINKED = "case.complaint_linked", "收到投诉", "complaint filed"
    COMPLAINT_FILED = "complaint.filed", "投诉已登记", "complaint filed"
    COMPLAINT_ACCEPTED = "complaint.accepted", "投诉已受理", "complaint accepted"
    COMPLAINT_REJECTED = "complaint.rejected", "投诉不予受理", "complaint rejected"
    COMPLAINT_ASSIGNED = "complaint.assigned", "投诉已转办", "complaint assigned"
    COMPLAINT_REPLIED = "complaint.replied", "投诉已答复", "complaint answered"
    COMPLAINT_CLOSED = "complaint.closed", "投诉已办结", "complaint closed"
    COMPLAINT_VIOLATION_FLAGGED = "complaint.violation_flagged", "违规", "violation flagged"
    COMPLAINT_ALERT_RAISED = "complaint.alert_raised", "投诉超时", "complaint overdue"
    SUPERVISION_ORDERED = "supervision.ordered", "督办", "supervision ordered"
    SUPERVISION_ANSWERED = "supervision.answered", "督办反馈", "supervision answered"
    SUPERVISION_ALERT_RAISED = "supervision.alert_raised", "督办超期", "order overdue"
    BUNDLE_OPENED = "bundle.opened", "一件事申报", "bundle opened"
    BUNDLE_CASE_ADDED = "bundle.case_added", "一件事新增事项", "case added to bundle"
    RECEIPT_ISSUED = "receipt.issued", "出具受理回执", "receipt issued"
    RECEIPT_CASE_ADDED = "receipt.case_added", "受理回执新增事项", "case added to receipt"
    CATALOGUE_OPENED = "catalogue.opened", "事项目录建立", "catalogue opened"
    CATALOGUE_VERSION_ADDED = "catalogue.version_added", "事项版本发布", "item version added"


# --- who uses the dashboard -------------------------------------------------------------


class Role(Word):
    """A signed-in user's role; the public signs in to nothing."""

    INSPECTOR = "inspector", "纪检监察", "discipline inspector"
    HEAD = "head", "部门负责人", "department head"
    TOWN = "town", "镇街负责人", "town manager"
    PUBLIC = "public", "办事群众", "the public"


# --- event types (CloudEvents: docs/contracts.md §5) -----------------------------------

#: Every hallwatch event's CloudEvents type starts with this: ``gov.hallwatch.case.accepted``.
EVENT_TYPE_PREFIX = "gov.hallwatch."

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case(name: str) -> str:
    """``CorrectionRequested`` -> ``correction_requested``."""
    return _CAMEL.sub("_", name).lower()


@cache
def event_name(stream: str, class_name: str) -> str:
    """An event's language-neutral name: ``case`` + ``CorrectionRequested`` ->
    ``case.correction_requested``."""
    return f"{stream}.{snake_case(class_name)}"


def event_type(name: str) -> str:
    """The CloudEvents type of an event name: ``gov.hallwatch.case.accepted``."""
    return EVENT_TYPE_PREFIX + name


def name_of_type(ce_type: str) -> str | None:
    """The event name in a CloudEvents type, or None when it is not hallwatch's."""
    if not ce_type.startswith(EVENT_TYPE_PREFIX):
        return None
    return ce_type[len(EVENT_TYPE_PREFIX) :]
