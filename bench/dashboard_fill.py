"""A large service hall written straight into the read-model tables, for the dashboard
benchmark: no domain, no projector, only the rows a year of work would have left.

About 50 departments, the 35 towns, ~400 items (a few popular, most rare), cases
submitted over the year before "now" on working days. Each case follows one plan
(intake corrections, acceptance, steps, a pause for corrections or a special
procedure, an extension, conclusion, delivery, a rating and its answer, the alerts
the alerter would have raised, violations, supervision orders, complaints); the
plan is cut at "now", so the statuses, cards and dates are what they would be then.
The ``events`` rows carry the JSON the query layer reads (``visitParamExtract*`` of
``projections.queries`` and ``projections.kpi``), in the stored layout (sorted keys);
the ``cases``, ``steps``, ``ratings``, ``alerts``, ``complaints`` and
``supervision_orders`` rows are folded from those very events.

Times are Unix seconds (both backends read an integer into a DateTime column), dates
``date`` objects. Rows are built a chunk of cases at a time (numpy for the draws, one
Python pass per case for its events) and inserted with the backend's own ``insert_many``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from domain.vocabulary import ONLINE_CHANNELS, TIME_ZONE, Channel, event_type
from infra.simulate import TOWNS

DAY = 86_400
#: Asia/Shanghai is UTC+8 all year (no summer time): local days by plain arithmetic.
SHANGHAI_OFFSET = int(
    (datetime(2026, 1, 1, tzinfo=TIME_ZONE).utcoffset() or timedelta()).total_seconds()
)
SOURCE = "dongguan-hall"
_SHORT = {
    "市场监管局": "SCJG", "住建局": "ZJ", "自然资源局": "ZRZY", "人社局": "RS", "民政局": "MZ",
    "卫健局": "WJ", "教育局": "JY", "交通运输局": "JT", "农业农村局": "NY", "医保局": "YB",
    "应急管理局": "YJ", "文广旅体局": "WGLT", "公安局": "GA", "生态环境局": "STHJ", "水务局": "SW",
    "商务局": "SWJ", "发改局": "FG", "财政局": "CZ", "司法局": "SF", "退役军人事务局": "TY",
    "城管局": "CG", "林业局": "LY", "气象局": "QX", "烟草专卖局": "YC", "公积金中心": "GJJ",
    "残联": "CL", "统计局": "TJ", "档案馆": "DA", "科技局": "KJ", "工信局": "GX", "国资委": "GZ",
    "港务局": "GW", "邮政管理局": "YZ", "通信管理局": "TX", "消防救援支队": "XF", "人防办": "RF",
    "民宗局": "MZZ", "侨务局": "QW", "外事局": "WS", "地震局": "DZ", "供电局": "GD",
    "燃气办": "RQ", "不动产登记中心": "BDC", "公共资源交易中心": "GGZY", "税务局": "SWU",
    "粮食和物资储备局": "LS", "知识产权局": "ZSCQ", "体育局": "TYJ", "城建档案馆": "CJDA",
    "人才服务中心": "RC",
}  # fmt: skip
_NOUNS = (
    "经营许可", "设立登记", "变更登记", "注销登记", "资格认定", "年度检验", "证明开具", "备案",
    "补贴申领", "证照补办", "延续审批", "项目核准", "施工许可", "资质认定", "审核确认",
    "许可证换发", "临时许可", "证书核发", "信息变更", "档案查询",
)  # fmt: skip
_STEPS = ("审查", "现场核查", "审核", "决定", "制证")
_STAFF = ("张东静", "林诗", "郑颖", "陈伟", "李娜", "黄敏", "刘洋", "叶婷", "何杰", "罗芳")
_INSPECTORS = ("市监察局 林晓燕", "市纪委监委 何建华", "效能办 梁嘉文")
_VIOLATIONS = (
    "instant_conclusion", "backdated_entry", "missing_reason", "skipped_steps",
    "repeated_suspension",
)  # fmt: skip
_CHANNELS = tuple(c.value for c in (Channel.WEB, Channel.WINDOW, Channel.KIOSK, Channel.APP))
_CHANNEL_P = (0.33, 0.34, 0.10, 0.23)


def _t(name: str) -> str:
    return event_type(name)


#: The CloudEvents types, by their short ``<stream>.<event>`` names.
T = {
    n: _t(n)
    for n in (
        "case.submitted", "case.accepted", "case.rejected", "case.correction_requested",
        "case.correction_received", "case.step_started", "case.step_completed",
        "case.suspended", "case.resumed", "case.extended", "case.concluded", "case.delivered",
        "case.rated", "case.rating_answered", "case.violation_flagged", "case.alert_raised",
        "case.supervision_ordered", "case.supervision_answered", "case.complaint_linked",
        "receipt.issued", "supervision.ordered", "supervision.answered",
        "supervision.alert_raised", "complaint.filed", "complaint.accepted",
        "complaint.assigned", "complaint.replied", "complaint.closed",
        "complaint.alert_raised",
    )
}  # fmt: skip


def local_day(t: int) -> int:
    """The Asia/Shanghai day number (days since 1970-01-01) of Unix time ``t``."""
    return (t + SHANGHAI_OFFSET) // DAY


def midnight(d: int) -> int:
    """Unix time of 00:00 Asia/Shanghai on day number ``d``."""
    return d * DAY - SHANGHAI_OFFSET


_EPOCH = date(1970, 1, 1)
_DATES: dict[int, date] = {}
_ISO: dict[int, str] = {}


def day_obj(d: int) -> date:
    out = _DATES.get(d)
    if out is None:
        out = _DATES[d] = _EPOCH + timedelta(days=d)
    return out


def iso(d: int) -> str:
    out = _ISO.get(d)
    if out is None:
        out = _ISO[d] = day_obj(d).isoformat()
    return out


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    department: str
    days: int  # promised (承诺) working days
    statutory: int
    depth: int
    steps: tuple[str, ...]
    fragment: orjson.Fragment  # the item object as stored in submitted/accepted data


@dataclass(frozen=True)
class Hall:
    departments: tuple[str, ...]
    towns: tuple[str, ...]
    town_p: np.ndarray
    items: tuple[Item, ...]
    item_p: np.ndarray


def _item(rng: np.random.Generator, dep: str, j: int) -> Item:
    days = int(rng.choice([1, 3, 5, 7, 10, 15, 20], p=[0.1, 0.15, 0.25, 0.15, 0.15, 0.1, 0.1]))
    statutory = min(60, max(days * 2, 10 if days < 5 else 20))
    steps = tuple(
        _STEPS[k] for k in sorted(rng.choice(5, size=1 + min(2, days // 5), replace=False))
    )
    code, name = f"{_SHORT[dep]}-{j + 1:03d}", f"{dep.rstrip('局')}{_NOUNS[j % len(_NOUNS)]}"
    depth = int(rng.choice([1, 2, 3], p=[0.2, 0.35, 0.45]))
    obj = {
        "category": "licence" if j % 3 == 0 else "public_service", "department": dep,
        "extension_days": 10 if days >= 10 else 0, "fully_online": depth == 3,
        "item_code": code, "item_name": name, "online_depth": depth, "promised_days": days,
        "statutory_days": statutory, "steps": [[s, max(1, days // len(steps))] for s in steps],
        "suspendable": days >= 10, "valid_from": "2025-01-01",
    }  # fmt: skip
    return Item(code, name, dep, days, statutory, depth, steps, orjson.Fragment(orjson.dumps(obj)))


def build_hall(seed: int = 7) -> Hall:
    """50 departments, the 35 towns, 4–12 items per department (~400), Zipf popularity."""
    rng = np.random.default_rng(seed)
    departments = tuple(_SHORT)
    items = tuple(
        _item(rng, dep, j) for dep in departments for j in range(int(rng.integers(4, 13)))
    )
    item_p = 1.0 / (rng.permutation(len(items)) + 1.0) ** 0.9
    town_p = 1.0 / (np.arange(len(TOWNS)) + 3.0) ** 0.6
    return Hall(departments, TOWNS, town_p / town_p.sum(), items, item_p / item_p.sum())


# --------------------------------------------------------------------------- one chunk's plans


def _u(rng: np.random.Generator, lo: float, hi: float, n: int | tuple[int, int]) -> np.ndarray:
    return rng.uniform(lo, hi, n)


def plan_cases(rng: np.random.Generator, hall: Hall, n: int, now: int) -> dict[str, np.ndarray]:
    """The draws of ``n`` cases: when each thing would happen (Unix seconds), what it is."""
    today = local_day(now)
    days = np.arange(today - 365, today + 1)
    days = days[((days + 3) % 7) < 5]  # Monday..Friday (day 0 was a Thursday)
    s = rng.choice(days, n) * DAY - SHANGHAI_OFFSET  # that day's midnight
    s += (9 * 3600 + _u(rng, 0, 8.5 * 3600, n)).astype(np.int64)
    s = np.where(s >= now, now - rng.integers(60, 6 * 3600, n), s)
    p: dict[str, np.ndarray] = {"s": s, "item": rng.choice(len(hall.items), n, p=hall.item_p)}
    p["town"] = rng.choice(len(hall.towns), n, p=hall.town_p)
    p["channel"] = rng.choice(4, n, p=_CHANNEL_P)
    r = rng.random(n)
    p["rejected"] = r < 0.03
    p["icorr"] = (r >= 0.03) & (r < 0.11)
    p["cr1"] = s + _u(rng, 3600, 1.5 * DAY, n).astype(np.int64)
    p["rc1"] = p["cr1"] + _u(rng, DAY, 8 * DAY, n).astype(np.int64)
    p["rej"] = s + _u(rng, 600, 2 * DAY, n).astype(np.int64)
    base = np.where(p["icorr"], p["rc1"], s)
    r = rng.random(n)
    delay = np.where(r < 0.85, _u(rng, 300, 4 * 3600, n), _u(rng, 4 * 3600, 3 * DAY, n))
    p["acc"] = base + np.where(r > 0.99, _u(rng, 6 * DAY, 25 * DAY, n), delay).astype(np.int64)
    span = np.array([it.days for it in hall.items])[p["item"]] * 7 // 5 + 1
    r = rng.random(n)
    frac = np.where(r < 0.935, 0.05 + 0.9 * _u(rng, 0, 1, n) ** 1.8, 1.0)
    extra = np.where(r > 0.995, _u(rng, 30, 200, n), np.where(r >= 0.935, _u(rng, 1, 25, n), 0))
    p["h"] = ((span * frac + extra) * DAY).astype(np.int64)
    r = rng.random(n)
    p["pause"] = np.where(r < 0.04, 1, np.where(r < 0.055, 2, 0))  # 1 correction, 2 suspension
    p["pause_at"] = p["acc"] + (p["h"] * _u(rng, 0.2, 0.6, n)).astype(np.int64)
    p["plen"] = np.where(p["pause"] > 0, _u(rng, DAY, 12 * DAY, n), 0).astype(np.int64)
    p["ext"] = np.where(rng.random(n) < 0.025, rng.integers(5, 16, n), 0)
    p["ext_at"] = p["acc"] + p["plen"] + (p["h"] * _u(rng, 0.6, 0.9, n)).astype(np.int64)
    p["conc"] = p["acc"] + p["h"] + p["plen"]
    p["outcome"] = rng.choice(3, n, p=[0.95, 0.03, 0.02])
    p["dlv"] = p["conc"] + _u(rng, 600, 2 * DAY, n).astype(np.int64)
    p["rated"] = rng.random(n) < 0.55
    p["rate_at"] = p["dlv"] + _u(rng, 600, 4 * DAY, n).astype(np.int64)
    p["level"] = rng.choice([5, 4, 3, 2, 1], n, p=[0.6, 0.25, 0.09, 0.04, 0.02])
    p["answered"] = rng.random(n) < 0.85
    p["ans_at"] = p["rate_at"] + _u(rng, 0.5 * DAY, 7 * DAY, n).astype(np.int64)
    p["violation"] = np.where(rng.random(n) < 0.03, rng.integers(0, len(_VIOLATIONS), n), -1)
    p["order"] = rng.random(n) < 0.25  # of the cases that get an overdue alert
    p["order_delay"] = _u(rng, DAY, 5 * DAY, n).astype(np.int64)
    p["order_days"] = rng.integers(3, 8, n)
    p["order_answer"] = np.where(rng.random(n) < 0.8, _u(rng, 0.5 * DAY, 8 * DAY, n), -1)
    p["complaint"] = rng.random(n) < 0.004
    p["cf_at"] = p["acc"] + _u(rng, DAY, 10 * DAY, n).astype(np.int64)
    p["cf_steps"] = np.cumsum(_u(rng, 0.2 * DAY, 9 * DAY, (n, 4)), axis=1).astype(np.int64)
    return p


# --------------------------------------------------------------------------- one case's events


class Ids:
    """UUID-shaped ids from a counter (unique in one fill), keyed hashes from random bytes."""

    def __init__(self, rng: np.random.Generator) -> None:
        h = rng.bytes(12).hex()
        self.prefix = f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{h[16:20]}-"
        self.count = 0
        self._hex = ""
        self._at = 0

    def new(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count:012x}"

    def digests(self, n: int) -> list[str]:
        """``n`` chain hashes (64 hex digits each)."""
        if self._at + 64 * n > len(self._hex):
            self._hex, self._at = os.urandom(32 * max(n, 65_536)).hex(), 0
        at, self._at = self._at, self._at + 64 * n
        h = self._hex
        return [h[i : i + 64] for i in range(at, at + 64 * n, 64)]


@dataclass
class Out:
    """The rows of one chunk, per table."""

    events: list[tuple[Any, ...]]
    cases: list[tuple[Any, ...]]
    steps: list[tuple[Any, ...]]
    ratings: list[tuple[Any, ...]]
    alerts: list[tuple[Any, ...]]
    complaints: list[tuple[Any, ...]]
    supervision_orders: list[tuple[Any, ...]]

    @classmethod
    def empty(cls) -> Out:
        return cls([], [], [], [], [], [], [])


#: One planned event: (time, short name, data without record_id/source, recorded delay).
Ev = tuple[int, str, dict[str, Any], int]
#: One stored event: (time, short name, data, event id, version).
Done = tuple[int, str, dict[str, Any], str, int]


def stream_rows(
    out: Out, ids: Ids, stream: tuple[str, str, str, str, str, str], evs: list[Ev], now: int
) -> list[Done]:
    """Append the events of one stream that happened by ``now`` (time order); each
    ``(time, name, data, event_id, version)``. ``stream``: kind, id, subject, department,
    item code, town. Alerts and violations also become ``alerts`` rows."""
    kind, sid, subject, dep, code, town = stream
    kept = sorted([e for e in evs if e[0] <= now], key=_time)
    done = []
    append, dumps, sort = out.events.append, orjson.dumps, orjson.OPT_SORT_KEYS
    for v, (t, name, data, late), digest in zip(
        range(1, len(kept) + 1), kept, ids.digests(len(kept)), strict=True
    ):
        eid = ids.new()
        deadline = data.pop("deadline_day", None)
        data["record_id"] = f"{SOURCE}-{ids.count:09d}"
        data["source"] = SOURCE
        append((eid, sid, kind, v, T[name], subject, dep, code, t, t + late,
                dumps(data, option=sort).decode(), digest))  # fmt: skip
        done.append((t, name, data, eid, v))
        if name in _FLAGS:
            alert = name.endswith("alert_raised")
            out.alerts.append(
                (eid, data["alert"] if alert else data["violation"],
                 "alert" if alert else "violation", kind, sid, subject, data.get("step") or "",
                 dep, town, code, None if deadline is None else day_obj(deadline),
                 data["detail"], t, t + late, v)
            )  # fmt: skip
    return done


def _time(e: Ev) -> int:
    return e[0]


_FLAGS = frozenset(n for n in T if n.endswith(("alert_raised", "violation_flagged")))


def alert(t: int, kind: str, deadline: int, detail: str, step: str | None = None) -> Ev:
    return (
        t, "case.alert_raised",
        {"alert": kind, "deadline": iso(deadline), "deadline_day": deadline, "detail": detail,
         "step": step},
        0,
    )  # fmt: skip


def intake(c: dict[str, Any], it: Item) -> list[Ev]:
    """Submission, intake corrections, rejection or acceptance (with its receipt)."""
    s, due0 = c["s"], local_day(c["s"]) + 7
    evs: list[Ev] = [
        (s, "case.submitted",
         {"applicant_hash": c["hash"], "applicant_kind": c["kind"], "applicant_name": "陈**",
          "bundle_id": None, "case_id": c["id"], "channel": c["channel"],
          "department": it.department, "intake_due_date": iso(due0), "item": it.fragment,
          "item_code": it.code, "item_name": it.name, "item_valid_from": "2025-01-01",
          "online": c["channel"] in ONLINE_CHANNELS, "town": c["town"]}, 0),
    ]  # fmt: skip
    if c["icorr"]:
        due0 = local_day(c["rc1"]) + 7
        evs.append(
            (
                c["cr1"],
                "case.correction_requested",
                {"count": 1, "materials": ["营业执照副本复印件"], "stage": "intake"},
                0,
            )
        )
        evs.append((c["rc1"], "case.correction_received",
                    {"due_date": None, "intake_due_date": iso(due0), "legal_due_date": None,
                     "next_step_due": None, "paused_days": 0, "stage": "intake",
                     "step_due_dates": [], "warn_date": None}, 0))  # fmt: skip
    if c["rejected"]:
        evs.append((c["rej"], "case.rejected", {"reason": "申请事项依法不属于本部门职权范围"}, 0))
        return evs
    acc = c["acc"]
    if midnight(due0 + 1) < acc:
        evs.append(alert(midnight(due0 + 1), "intake_overdue", due0, "intake decision overdue"))
        evs.append((acc, "case.violation_flagged",
                    {"detail": "intake decision after the deadline",
                     "violation": "late_intake_decision"}, 0))  # fmt: skip
    return evs


def _dates(c: dict[str, Any], it: Item) -> tuple[int, int, int, int]:
    """(day accepted, due, warn, legal due) as the acceptance sets them."""
    a = local_day(c["acc"])
    span = it.days * 7 // 5 + 1
    due = a + span
    return a, due, due - max(1, round(span * 0.2)), a + it.statutory * 7 // 5 + 1


def handling(c: dict[str, Any], it: Item) -> tuple[list[Ev], int]:
    """Acceptance, the steps, a pause, an extension; the final due date."""
    acc, h, plen, pause_at = c["acc"], c["h"], c["plen"], c["pause_at"]
    a, due, warn, legal = _dates(c, it)
    k = len(it.steps)
    evs: list[Ev] = [
        (acc, "case.accepted",
         {"clock_start": iso(a), "deemed": False, "due_date": iso(due), "item": it.fragment,
          "legal_due_date": iso(legal), "legal_limit_days": it.statutory,
          "limit_days": it.days, "next_step": it.steps[0], "next_step_due": iso(a + 1),
          "query_code_hash": c["hash"], "receipt_no": c["receipt"], "warn_date": iso(warn)}, 0),
    ]  # fmt: skip
    for i, step in enumerate(it.steps):
        st, sc = acc + h * i // k + 600, acc + h * (i + 1) // k - 300
        st, sc = (x + plen if c["pause"] and x > pause_at else x for x in (st, max(sc, st + 60)))
        sdue = local_day(st) + (it.days * 7 // 5 + 1) // k + 1
        handler = _STAFF[(c["n"] + i) % len(_STAFF)]
        evs.append((st, "case.step_started",
                    {"department": None, "due_date": iso(sdue), "handler": handler,
                     "step": step}, 0))  # fmt: skip
        if midnight(sdue + 1) < sc:
            evs.append(alert(midnight(sdue + 1), "step_overdue", sdue, f"{step} overdue", step))
        evs.append(
            (
                sc,
                "case.step_completed",
                {
                    "decision": "pass",
                    "handler": handler,
                    "next_step": it.steps[i + 1] if i + 1 < k else None,
                    "next_step_due": None,
                    "on_time": local_day(sc) <= sdue,
                    "opinion": None,
                    "step": step,
                },
                0,
            )
        )
    if c["pause"]:
        pd = -(-plen // DAY)
        due, warn, legal = due + pd, warn + pd, legal + pd
        evs += _pause(c, pd, due, warn, legal)
    if c["ext"]:
        due, warn, legal = due + c["ext"], warn + c["ext"], legal + c["ext"]
        evs.append((c["ext_at"], "case.extended",
                    {"approved_by": "郑娜思（分管负责人）", "days": c["ext"], "due_date": iso(due),
                     "legal_due_date": iso(legal), "reason": "涉及多个部门会商，经批准延期办理",
                     "warn_date": iso(warn)}, 0))  # fmt: skip
    conc = c["conc"]
    if acc < midnight(warn) < conc:
        evs.append(alert(midnight(warn), "case_warning", warn, "the case reaches its warning day"))
    if midnight(due + 1) < conc:
        evs.append(alert(midnight(due + 1), "case_overdue", due, "the case is past its due date"))
    return evs, due


def _pause(c: dict[str, Any], pd: int, due: int, warn: int, legal: int) -> list[Ev]:
    """A correction after acceptance (1) or a special procedure (2), and its end."""
    p, r = c["pause_at"], c["pause_at"] + c["plen"]
    dates: dict[str, Any] = {
        "due_date": iso(due), "legal_due_date": iso(legal), "next_step_due": None,
        "paused_days": pd, "step_due_dates": [], "warn_date": iso(warn),
    }  # fmt: skip
    if c["pause"] == 1:
        return [
            (p, "case.correction_requested",
             {"count": 1, "materials": ["规章制度文本"], "stage": "handling"}, 0),
            (r, "case.correction_received",
             {**dates, "intake_due_date": None, "stage": "handling"}, 0),
        ]  # fmt: skip
    return [
        (p, "case.suspended",
         {"count": 1, "expected_days": pd, "expected_resume": iso(local_day(r)),
          "procedure": "appraisal", "reason": "需委托专业机构进行技术鉴定"}, 0),
        (r, "case.resumed", dates, 0),
    ]  # fmt: skip


def aftercare(c: dict[str, Any], it: Item, due: int) -> list[Ev]:
    """Conclusion, delivery, a rating and its answer, a violation."""
    conc, a = c["conc"], local_day(c["acc"])
    cd = local_day(conc)
    outcome = ("approved", "denied", "terminated")[c["outcome"]]
    online = c["channel"] in ONLINE_CHANNELS
    evs: list[Ev] = [
        (conc, "case.concluded",
         {"due_date": iso(due), "handling_days": max(0, (cd - a) * 5 // 7),
          "late_days": max(0, cd - due), "on_time": cd <= due, "online": online,
          "outcome": outcome, "reason": None if outcome == "approved" else "材料不符合条件"}, 0),
    ]  # fmt: skip
    kind = _VIOLATIONS[c["violation"]] if c["violation"] >= 0 else ""
    late = 5 * DAY if kind == "backdated_entry" else 0
    if kind:
        evs.append((conc, "case.violation_flagged",
                    {"detail": f"{kind.replace('_', ' ')} on conclusion", "violation": kind},
                    late))  # fmt: skip
    if outcome != "approved":
        return evs
    visits = 0 if online and it.depth == 3 else 1 + (c["channel"] == "window" and it.days >= 10)
    evs.append(
        (
            c["dlv"],
            "case.delivered",
            {"method": "electronic" if online else "window", "site_visits": visits},
            late,
        )
    )
    if c["rated"]:
        evs += _rating(c)
    return evs


def _rating(c: dict[str, Any]) -> list[Ev]:
    level, at = c["level"], c["rate_at"]
    bad, due = level <= 2, local_day(at) + 7
    evs: list[Ev] = [
        (at, "case.rated",
         {"answer_due_date": iso(due) if bad else None, "bad": bad,
          "comment": "办理进度慢，窗口解释不清" if bad else None, "level": level}, 0),
    ]  # fmt: skip
    if not bad:
        return evs
    answered = c["ans_at"] if c["answered"] else 1 << 40
    if midnight(due + 1) < answered:
        evs.append(alert(midnight(due + 1), "rating_unanswered", due, "bad review unanswered"))
    if c["answered"]:
        evs.append((answered, "case.rating_answered",
                    {"on_time": local_day(answered) <= due,
                     "reply": "已核实情况，向申请人致歉并说明办理进度"}, 0))  # fmt: skip
    return evs
