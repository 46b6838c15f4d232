"""The public tracker (办件查询) for applicants and complainants (办事人 / 投诉人).

A receipt number (受理号) and its query code (查询码) show that case in plain words: the
item, the department, its status, the applicant's name masked, the expected completion
date, whether it is late, and what happened when; after conclusion the applicant may
rate it once and file a complaint about it. A complaint id and its query code show the
complaint. Nothing about anyone else, and nothing internal (handlers, alerts,
violations, hashes). Wrong codes count towards a lock-out of the number (kept by the
services, so it holds across sessions and restarts); a wrong code and an unknown number
get the same answer.

The bounds and the refusal words below are shared with the services' implementation.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import context
from dashboard.i18n import lang, tr, word
from dashboard.services import Tracked, Written
from domain.vocabulary import (
    TIME_ZONE,
    CaseStatus,
    ComplaintStatus,
    EventName,
    Outcome,
    Rating,
)

#: Longest receipt number or complaint id, query code, and comment or complaint text.
MAX_ID = 64
MAX_CODE = 32
MAX_TEXT = 1000

# Why a lookup or a write was refused (``Tracked.extra["error"]``, ``Written.reason``).
BAD_INPUT = "bad_input"
NO_MATCH = "no_match"
LOCKED = "locked"
NOT_CONCLUDED = "not_concluded"
ALREADY_RATED = "already_rated"
UNAVAILABLE = "unavailable"

# What an input may not be (``input_problem``).
BLANK = "blank"
TOO_LONG = "too_long"
ODD = "odd"

#: Direction overrides and isolates: they make text read other than it is stored.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

_CASE = "track_case"  # session keys: the receipt number and code that opened a case,
_COMPLAINT = "track_complaint"  # the complaint id and code that opened a complaint,
_FLASH = "track_flash"  # a message for the next run,
_FILED = "track_filed"  # complaints filed in this session (receipt number, id, code),
_RATING = "track_rating"  # the receipt number whose rating form this session was shown


def input_problem(
    text: object, limit: int, *, multiline: bool = False, empty: bool = False
) -> str | None:
    """Why an input is refused (``BLANK``, ``TOO_LONG``, ``ODD``), or None. One line
    (ids, codes) takes printable characters only; text may also hold line breaks and
    tabs, never other control characters, NUL, lone surrogates or direction overrides."""
    if not isinstance(text, str):
        return ODD
    if len(text) > limit:
        return TOO_LONG
    if not text.strip():
        return None if empty else BLANK
    for ch in text:
        if multiline:
            cat = unicodedata.category(ch)
            if (cat == "Cc" and ch not in "\n\r\t") or cat == "Cs" or ch in _BIDI:
                return ODD
        elif not ch.isprintable():
            return ODD
    return None


def _input_message(problem: str, what: str, limit: int) -> str:
    if problem == BLANK:
        return tr(f"请填写{what}。", f"Please enter the {what}.")
    if problem == TOO_LONG:
        return tr(
            f"{what}过长（最多 {limit} 个字符）。", f"The {what} is too long (at most {limit})."
        )
    return tr(
        f"{what}含有不能接受的字符（如控制字符），请检查后重试。",
        f"The {what} holds characters that cannot be accepted (control characters); "
        "please check it.",
    )


def _first_problem(*fields: tuple[str, str, int]) -> str | None:
    """The message for the first bad field (text, its name, its limit), or None."""
    for text, what, limit in fields:
        problem = input_problem(text, limit)
        if problem:
            return _input_message(problem, what, limit)
    return None


def _day(value: str | None) -> str:
    return value[:10] if value else "—"


def _time(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(TIME_ZONE).strftime("%Y-%m-%d %H:%M")


def _until(t: datetime) -> str:
    """An instant as the viewer reads it (Beijing time)."""
    t = t.astimezone(TIME_ZONE)
    if lang() == "en":
        return f"{t:%d %b %Y, %H:%M} (Beijing time)"
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}（北京时间）"


def _refusal(tracked: Tracked, number: str, thing: str) -> str:
    """Why nothing is shown: locked (until when), input or service trouble, or no match
    (with the tries left before the lock). ``number`` names what was typed (受理号), ``thing``
    what it finds (办件)."""
    minutes = tracked.extra.get("lock_minutes", 15)
    if tracked.locked_until is not None:
        return tr(
            f"该{number}因查询码多次输入错误已被锁定，请于 {_until(tracked.locked_until)} 后再试。",
            f"This {number} is locked after too many wrong query codes; "
            f"try again after {_until(tracked.locked_until)}.",
        )
    error = tracked.extra.get("error")
    if error == BAD_INPUT:
        return tr(
            "输入内容无法受理，请检查后重试。", "That input cannot be accepted; please check it."
        )
    if error == UNAVAILABLE:
        return tr(
            "查询服务暂时不可用，请稍后再试。", "The tracker is unavailable; try again later."
        )
    missing = tr(
        f"没有与该{number}和查询码相符的{thing}。", f"No {thing} with that {number} and query code."
    )
    left = tracked.attempts_left
    if left is None:
        return missing
    return missing + tr(
        f"还可再试 {left} 次，之后该{number}将被锁定 {minutes} 分钟。",
        f" {left} tries left before this {number} is locked for {minutes} minutes.",
    )


def _write_refusal(done: Written) -> str:
    reason = done.reason
    if reason == LOCKED:
        return tr("该受理号已被锁定，请稍后再试。", "This receipt number is locked; try later.")
    if reason == NO_MATCH:
        return tr(
            "没有与该受理号和查询码相符的办件。", "No case with that receipt number and code."
        )
    if reason == NOT_CONCLUDED:
        return tr("办件尚未办结，办结后才能评价或投诉。", "The case is not concluded yet.")
    if reason == ALREADY_RATED:
        return tr(
            "该办件已评价过，每件只能评价一次。", "This case has already been rated (once only)."
        )
    if reason in (BAD_INPUT, UNAVAILABLE):
        return tr("暂时无法提交，请检查内容后再试。", "Could not be sent; check it and try again.")
    return tr(f"未能提交：{reason}", f"Not recorded: {reason}")


def _flash() -> None:
    """The message the last action left for this run."""
    kind, message = st.session_state.pop(_FLASH, (None, None))
    if message:
        (st.success if kind == "ok" else st.error)(message)


# --- a case --------------------------------------------------------------------------------


def _late_text(v: Mapping[str, Any]) -> str:
    if not v.get("late"):
        return tr("未超期", "on time")
    days = v.get("days_late")
    if days:
        return tr(f"已超期 {days} 个工作日", f"late by {days} working days")
    return tr("已超期", "late")


def _history(rows: list[Mapping[str, Any]]) -> None:
    st.subheader(tr("办理过程", "What happened"))

    def what(h: Mapping[str, Any]) -> str:
        step = h.get("step")
        return word(h["type"], EventName) + (f" · {step}" if step else "")

    if not rows:
        st.caption(tr("暂无记录。", "Nothing recorded yet."))
        return
    # A plain table (not the canvas grid): a few rows the public reads, prints and copies.
    st.table(
        pd.DataFrame(
            {
                tr("时间", "when"): [_time(h["occurred_at"]) for h in rows],
                tr("进展", "what"): [what(h) for h in rows],
            }
        ).set_index(tr("时间", "when"))
    )


def _show_case(v: Mapping[str, Any]) -> None:
    st.subheader(str(v["item_name"]))
    st.caption(
        f"{tr('受理号', 'Receipt number')} {v['receipt_no']} · "
        f"{tr('办理部门', 'Department')} {v['department']} · "
        f"{tr('受理时间', 'Accepted')} {_time(v.get('accepted_at'))}"
    )
    cols = st.columns(4)
    cols[0].metric(tr("办理状态", "Status"), word(v["status"], CaseStatus))
    cols[1].metric(tr("申请人", "Applicant"), v.get("applicant_name") or "—")
    cols[2].metric(tr("预计办结日期", "Expected completion"), _day(v.get("expected_completion")))
    cols[3].metric(tr("是否超期", "Late?"), _late_text(v))
    if v.get("late"):
        st.warning(tr(f"该办件{_late_text(v)}。", f"This case is {_late_text(v)}."))
    if v.get("suspension"):
        st.info(
            tr(
                "办件处于特别程序中，暂停计时。",
                "A special procedure is under way; the clock is stopped.",
            )
        )
    if v.get("outcome"):
        st.markdown(
            f"**{tr('办结结果', 'Outcome')}** {word(v['outcome'], Outcome)} · "
            f"**{tr('办结时间', 'Concluded')}** {_time(v.get('concluded_at'))}"
        )
    if v.get("rating") is not None:
        st.success(tr("您的评价：", "Your rating: ") + word(str(v["rating"]), Rating))
    _history(list(v.get("history") or []))


def _rate_form(receipt_no: str, code: str) -> None:
    """Five levels and an optional comment, once per case."""
    with st.form("track_rate"):
        st.subheader(tr("评价本次办事（好差评）", "Rate this service"))
        level = st.radio(
            tr("满意程度", "How satisfied are you?"),
            [5, 4, 3, 2, 1],
            format_func=lambda x: word(str(x), Rating),
            horizontal=True,
            key="track_rate_level",
        )
        comment = st.text_area(
            tr("评价内容（可选）", "Comment (optional)"),
            max_chars=MAX_TEXT,
            key="track_rate_comment",
        )
        sent = st.form_submit_button(tr("提交评价", "Send the rating"), key="track_rate_send")
    if not sent:
        return
    st.session_state.pop(_RATING, None)
    problem = input_problem(comment, MAX_TEXT, multiline=True, empty=True)
    if problem:
        st.error(_input_message(problem, tr("评价内容", "comment"), MAX_TEXT))
        return
    done = context.services().rate(receipt_no, code, int(level or 0), comment)
    if not done.ok:
        st.error(_write_refusal(done))
        return
    st.session_state[_FLASH] = (
        "ok",
        tr("感谢您的评价，已记录。", "Thank you: your rating is recorded."),
    )
    st.rerun()


def _complaint_form(receipt_no: str, code: str) -> None:
    title = tr("对本办件提出投诉", "File a complaint about this case")
    with st.expander(title), st.form("track_complain"):
        content = st.text_area(
            tr("投诉内容", "What went wrong"), max_chars=MAX_TEXT, key="track_complaint_text"
        )
        sent = st.form_submit_button(
            tr("提交投诉", "File the complaint"), key="track_complain_send"
        )
    if not sent:
        return
    problem = input_problem(content, MAX_TEXT, multiline=True)
    if problem:
        st.error(_input_message(problem, tr("投诉内容", "complaint"), MAX_TEXT))
        return
    done = context.services().complain(receipt_no, code, content)
    if not done.ok:
        st.error(_write_refusal(done))
        return
    st.session_state.setdefault(_FILED, []).append((receipt_no, done.ref, done.code))
    st.rerun()  # shown above the case from now on


def _filed(receipt_no: str) -> None:
    """The complaints filed in this session about this receipt, with their codes."""
    for about, ref, code in st.session_state.get(_FILED, []):
        if about != receipt_no:
            continue
        st.success(
            tr(
                f"投诉已登记。投诉编号 {ref}，查询码 {code}。请记下，用于“查询投诉”。",
                f"Complaint filed. Complaint number {ref}, query code {code}: "
                "keep them to track it under “Track a complaint”.",
            )
        )


def _case_tab() -> None:
    with st.form("track_case_form"):
        receipt = st.text_input(
            tr("受理号", "Receipt number"), max_chars=MAX_ID, key="track_receipt"
        )
        code = st.text_input(
            tr("查询码", "Query code"), max_chars=MAX_CODE, type="password", key="track_code"
        )
        asked = st.form_submit_button(tr("查询", "Look up"), key="track_lookup")
    if asked:
        st.session_state.pop(_CASE, None)
        st.session_state.pop(_RATING, None)
        problem = _first_problem(
            (receipt, tr("受理号", "receipt number"), MAX_ID),
            (code, tr("查询码", "query code"), MAX_CODE),
        )
        if problem:
            st.error(problem)
            return
        st.session_state[_CASE] = (receipt.strip(), code.strip())
    _flash()
    if _CASE not in st.session_state:
        st.caption(
            tr("请输入受理回执上的受理号和查询码。", "Enter the receipt number and query code.")
        )
        return
    receipt_no, query_code = st.session_state[_CASE]
    tracked = context.services().track(receipt_no, query_code)
    if tracked.view is None:
        st.session_state.pop(_CASE, None)
        st.error(_refusal(tracked, tr("受理号", "receipt number"), tr("办件", "case")))
        return
    _filed(receipt_no)
    views = list(tracked.extra.get("cases") or [tracked.view])
    for v in views:
        _show_case(v)
    # once shown, the rating form stays for one more run, so that a rating sent after
    # another tab (or the hall) rated the case gets its answer
    rateable = any(v.get("can_rate") for v in views)
    shown_before = st.session_state.pop(_RATING, None) == receipt_no
    if rateable:
        st.session_state[_RATING] = receipt_no
    if rateable or shown_before:
        _rate_form(receipt_no, query_code)
    if any(v.get("can_complain") for v in views):
        _complaint_form(receipt_no, query_code)


# --- a complaint ---------------------------------------------------------------------------


def _show_complaint(v: Mapping[str, Any]) -> None:
    st.subheader(tr(f"投诉 {v['complaint_id']}", f"Complaint {v['complaint_id']}"))
    st.caption(f"{tr('被投诉部门', 'About')} {v.get('department') or '—'}")
    cols = st.columns(4)
    cols[0].metric(tr("办理状态", "Status"), word(v["status"], ComplaintStatus))
    cols[1].metric(tr("登记日期", "Filed"), _day(v.get("filed_at")))
    reply_due = v.get("reply_due_date")
    cols[2].metric(
        tr("答复期限", "Reply due"),
        _day(reply_due)
        if reply_due
        else tr("受理后 15 个工作日内", "15 working days after acceptance"),
    )
    cols[3].metric(
        tr("是否超期", "Late?"), tr("已超期", "late") if v.get("late") else tr("未超期", "on time")
    )
    st.markdown(
        f"**{tr('受理期限', 'Acceptance due')}** {_day(v.get('accept_due_date'))} · "
        f"**{tr('受理日期', 'Accepted')}** {_day(v.get('accepted_at'))} · "
        f"**{tr('答复日期', 'Answered')}** {_day(v.get('replied_at'))} · "
        f"**{tr('办结日期', 'Closed')}** {_day(v.get('closed_at'))}"
    )
    _history(list(v.get("history") or []))


def _complaint_tab() -> None:
    with st.form("track_complaint_form"):
        ref = st.text_input(tr("投诉编号", "Complaint number"), max_chars=MAX_ID, key="track_cid")
        code = st.text_input(
            tr("查询码", "Query code"), max_chars=MAX_CODE, type="password", key="track_ccode"
        )
        asked = st.form_submit_button(
            tr("查询投诉", "Look up the complaint"), key="track_complaint_lookup"
        )
    if asked:
        st.session_state.pop(_COMPLAINT, None)
        problem = _first_problem(
            (ref, tr("投诉编号", "complaint number"), MAX_ID),
            (code, tr("查询码", "query code"), MAX_CODE),
        )
        if problem:
            st.error(problem)
            return
        st.session_state[_COMPLAINT] = (ref.strip(), code.strip())
    if _COMPLAINT not in st.session_state:
        st.caption(tr("请输入投诉编号和查询码。", "Enter the complaint number and its query code."))
        return
    tracked = context.services().track_complaint(*st.session_state[_COMPLAINT])
    if tracked.view is None:
        st.session_state.pop(_COMPLAINT, None)
        st.error(_refusal(tracked, tr("投诉编号", "complaint number"), tr("投诉", "complaint")))
        return
    _show_complaint(tracked.view)


def page() -> None:
    st.title(tr("办件查询", "Track a case"))
    case_tab, complaint_tab = st.tabs([tr("查询办件", "A case"), tr("查询投诉", "A complaint")])
    with case_tab:
        _case_tab()
    with complaint_tab:
        _complaint_tab()
