"""A realistic intake-record generator (CONTRACTS.md section 2) for demos, tests and load.

Why it exists: hallwatch needs a believable feed to exercise every rule (time limits,
warnings, violations, KPIs) without real applicants' data. The generator follows the
case lifecycle the domain enforces, so every record it emits can be applied; it also
plants a few *supervision-rule* violations (second correction, late intake, missing
reasons, back-dating, instant conclusions, repeated suspensions), which are valid input
that hallwatch must record and flag.

Everything is drawn from one ``random.Random(seed)``, so the same arguments give the
same records, byte for byte. Times are Asia/Shanghai (+08:00) during working hours on
working days; the output is sorted by arrival (``recorded_at`` when present, else ``at``).

Usage: ``python -m infra.simulate --cases 300 --start 2026-03-02 --seed 7 --out FILE``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from domain.calendar import WorkCalendar
from domain.catalogue import Catalogue, ItemVersion, parse_catalogue, sample_catalogue_path

__all__ = ["SHANGHAI", "generate_records", "main", "write_jsonl"]

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Working hours of the hall: 09:00-12:00 and 13:30-17:30, as "working seconds" 0..25200.
_MORNING = (time(9, 0), 3 * 3600)
_AFTERNOON = (time(13, 30), 4 * 3600)
_DAY_SECONDS = _MORNING[1] + _AFTERNOON[1]

#: New cases per working day: sets how many working days the submissions span.
_CASES_PER_DAY = 15

#: Cases submitted in this many last working days may be left open at the end.
_OPEN_WINDOW_DAYS = 10

# --------------------------------------------------------------------------- #
# Reference data for realistic fakes
# --------------------------------------------------------------------------- #

# fmt: off
TOWNS: tuple[str, ...] = (
    "莞城街道", "南城街道", "东城街道", "万江街道", "石碣镇", "石龙镇", "茶山镇", "石排镇",
    "企石镇", "横沥镇", "桥头镇", "谢岗镇", "东坑镇", "常平镇", "寮步镇", "樟木头镇",
    "大朗镇", "黄江镇", "清溪镇", "塘厦镇", "凤岗镇", "大岭山镇", "长安镇", "虎门镇",
    "厚街镇", "沙田镇", "道滘镇", "洪梅镇", "麻涌镇", "望牛墩镇", "中堂镇", "高埗镇",
    "松山湖园区", "滨海湾新区", "东莞港",
)

_SURNAMES = (
    "陈李黄张梁刘叶林何罗钟郑谢邓蔡莫周吴杨徐朱胡袁卢曾王冯赵彭苏邱曹欧方温严"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国志浩宇婷"
    "欣怡俊杰嘉文子轩梓涵诗雨晓东海燕佳慧锦荣思颖家豪永康"
)
_BRANDS = (
    "华南", "鸿盛", "嘉诚", "粤兴", "东鹏", "宏达", "新纪元", "金丰", "恒昌", "力拓", "远航",
    "卓越", "联创", "汇丰源", "瑞祥", "南粤", "华信", "永利", "富华", "盛世", "启明", "锦绣",
    "长城", "海纳", "拓邦", "益康", "顺达", "宝龙", "天润", "美嘉",
)
_TRADES = (
    "电子科技", "五金制品", "餐饮管理", "贸易", "模具", "物流", "服装", "家具", "塑胶制品",
    "建材", "食品", "医药连锁", "印刷", "精密机械", "新材料", "文化传播", "建筑工程", "环保科技",
)

#: Item names that an individual (not an enterprise) applies for.
_PERSON_ITEM_WORDS = (
    "户口", "身份证", "护照", "无犯罪", "就业", "社会保障卡", "失业", "出生", "教师", "转学",
    "结婚", "婚姻", "最低生活", "特困", "残疾", "异地就医", "门诊", "生育", "医师", "公共租赁",
)

_MATERIALS = (
    "申请表（需申请人签字或盖章）", "营业执照副本复印件", "法定代表人身份证明", "授权委托书",
    "经营场所产权证明或租赁合同", "场所平面布局图", "从业人员健康证明", "消防安全检查合格证明",
    "户口簿原件及复印件", "近期免冠彩色照片", "专业技术人员资格证书", "设备清单及检验报告",
    "规章制度文本", "环境影响评价文件", "有效身份证件原件", "医学诊断证明",
)

_REJECT_REASONS = (
    "申请事项依法不属于本部门职权范围，已告知申请人向有关行政机关申请",
    "申请人不具备法定申请资格",
    "申请事项依法不需要取得行政许可",
    "同一事项已在办理中，不予重复受理",
)
_DENY_REASONS = (
    "经现场核查，经营场所不符合许可条件",
    "申请材料与实际情况不符，不符合法定条件",
    "专家评审未通过，不符合相关技术规范",
    "申请人提供的证明材料存在虚假内容",
)
_EXTEND_REASONS = (
    "情况复杂，需进一步核实申请材料，经本机关负责人批准延长期限",
    "涉及多个部门会商，经批准延期办理",
    "现场核查发现需补充论证事项，经批准延长办理期限",
)
_RATING_COMMENTS = {
    5: ("办事效率高，工作人员态度很好", "网上办理很方便，一次都不用跑", "非常满意"),
    4: ("整体顺利，等候时间稍长", "服务不错"),
    3: ("基本满意，希望流程再简化", "材料要求说明不够清楚"),
    2: ("办理时间太长，进度查询不到", "工作人员解释不清楚，多跑了一趟"),
    1: ("多次往返窗口仍未办好", "超过承诺时限没有任何通知"),
}
_RATING_REPLIES = (
    "已核实情况，向申请人致歉并说明办理进度，已督促经办人限期办结",
    "已对窗口人员进行批评教育，优化一次性告知内容",
    "感谢您的评价，我们将持续改进服务",
)
_COMPLAINTS = (
    "办件已超过承诺时限仍未办结，窗口未说明原因",
    "窗口工作人员服务态度差，解释不耐烦",
    "网上申报系统多次提交失败，只能跑现场",
    "补正材料要求前后不一致，来回跑了三趟",
    "办理进度长时间不更新，电话咨询无人接听",
)
_COMPLAINT_REPLIES = (
    "经核查情况属实，已责令经办人整改并向投诉人致歉，办件已加快办理",
    "经核查，办件处于特别程序期间，已向投诉人说明情况",
    "已对相关工作人员进行批评教育，并完善首问负责制度",
)
_COMPLAINT_REJECTS = (
    "投诉事项不属于本平台受理范围，已告知投诉人向有权机关反映",
    "重复投诉，已按原答复意见处理",
)
_SUPERVISION_NOTES = (
    "该办件已超承诺时限，请于期限内办结并书面反馈超时原因",
    "近期该部门超时办件较多，请逐件核查并反馈整改措施",
    "群众反映办理进度缓慢，请核实并限期反馈",
)
_SUPERVISION_REPLIES = (
    "已督促经办人加快办理，并对超时原因作出书面说明",
    "已逐件核查超时办件，制定整改措施并落实到人",
)
_OUTCOME_REASONS = {
    "withdrawn": "申请人主动申请撤回",
    "terminated": "申请人主体资格依法终止，终止办理",
    "transferred": "依法转报上级行政机关审批",
}
_INSPECTORS = ("市监察局 陈志强", "市监察局 林晓燕", "市纪委监委 何建华", "效能办 梁嘉文")
# fmt: on


# --------------------------------------------------------------------------- #
# Fake identities (checksums valid, so downstream format checks pass)
# --------------------------------------------------------------------------- #

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_DONGGUAN = "441900"


def fake_person_id(rng: random.Random) -> str:
    """An 18-character resident ID number (居民身份证号) with a valid GB 11643 check digit."""
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 20_000))
    body = f"{_DONGGUAN}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    total = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


def fake_credit_code(rng: random.Random) -> str:
    """An 18-character unified social credit code (统一社会信用代码), GB 32100 checksums."""
    org = "".join(str(rng.randrange(10)) for _ in range(8))
    c9 = 11 - sum(int(c) * w for c, w in zip(org, _ORG_WEIGHTS, strict=True)) % 11
    org += "X" if c9 == 10 else ("0" if c9 == 11 else str(c9))
    body = "91" + _DONGGUAN + org
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


def fake_person_name(rng: random.Random) -> str:
    """A plausible Chinese personal name (surname + one or two given characters)."""
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(_SURNAMES) + given


def fake_company_name(rng: random.Random) -> str:
    """A plausible Dongguan company name."""
    return f"东莞市{rng.choice(_BRANDS)}{rng.choice(_TRADES)}有限公司"


# --------------------------------------------------------------------------- #
# Plans: records of one stream, on working days, before exact times are drawn
# --------------------------------------------------------------------------- #


@dataclass
class _Planned:
    """One future record: its day and, optionally, a fixed working-second offset."""

    day: date
    kind: str
    fields: dict[str, Any]
    offset: int | None = None


@dataclass
class _Case:
    """Everything decided about one case before its records are written."""

    index: int
    item: ItemVersion
    day: date
    offset: int
    channel: str
    applicant_kind: str
    applicant_name: str
    applicant_id: str
    town: str
    bundle: int | None = None
    intake: str = "direct"
    outcome: str = "approved"
    instant: bool = False
    late: bool = False
    extended: bool = False
    suspensions: int = 0
    mid_correction: bool = False
    deny_without_reason: bool = False
    withdraw_early: bool = False
    leave_open: bool = False
    backdate: bool = False
    case_id: str = ""
    plan: list[_Planned] = field(default_factory=list)
    records: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)


class _Clock:
    """Working-day arithmetic for the simulation, with the hall's calendar."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.cal = calendar

    def add(self, day: date, n: int) -> date:
        return self.cal.add_working_days(day, n) if n > 0 else day

    def on_or_after(self, day: date) -> date:
        return day if self.cal.is_working_day(day) else self.cal.add_working_days(day, 1)


def _at(day: date, offset: int) -> datetime:
    """Turn a working-second offset into a local time (overtime past 17:30 if needed)."""
    if offset < _MORNING[1]:
        start, extra = _MORNING[0], offset
    else:
        start, extra = _AFTERNOON[0], offset - _MORNING[1]
    base = datetime.combine(day, start, tzinfo=SHANGHAI)
    return base + timedelta(seconds=extra)


def _rfc3339(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _quota(share: float, n: int, rng: random.Random) -> int:
    """How many of ``n`` get a trait of ``share``: at least 1 in a big enough run so a
    300-case sample shows every rare behaviour, stochastic rounding otherwise."""
    exact = share * n
    count = int(exact) + (1 if rng.random() < exact - int(exact) else 0)
    return max(count, 1) if n * share >= 0.25 else count


# --------------------------------------------------------------------------- #
# The generator
# --------------------------------------------------------------------------- #


class _Simulation:
    """Holds the shared state of one run; see :func:`generate_records`."""

    def __init__(
        self, cases: int, start: date, seed: int, source: str, catalogue: Catalogue
    ) -> None:
        self.n = cases
        self.rng = random.Random(seed)
        self.source = source
        self.catalogue = catalogue
        self.clock = _Clock(WorkCalendar.default())
        first = self.clock.on_or_after(start)
        span = max(1, math.ceil(cases / _CASES_PER_DAY))
        self.days = [first] + [self.clock.add(first, i) for i in range(1, span)]
        codes = catalogue.codes()
        order = list(codes)
        self.rng.shuffle(order)
        # Popularity: a few items get most cases, as in a real hall.
        self.weights = {code: 1.0 / (rank + 1) ** 0.7 for rank, code in enumerate(order)}
        self.codes = codes
        departments = catalogue.departments()
        self.departments = departments
        self.staff = {d: [fake_person_name(self.rng) for _ in range(6)] for d in departments}
        self.leaders = {d: fake_person_name(self.rng) for d in departments}
        self.cases: list[_Case] = []

    # -- profiles ----------------------------------------------------------- #

    def _item_on(self, day: date, want_steps: int = 1) -> ItemVersion:
        available: list[ItemVersion] = []
        weights: list[float] = []
        for code in self.codes:
            v = self.catalogue.version_on(code, day)
            if v is not None and len(v.steps) >= want_steps:
                available.append(v)
                weights.append(self.weights[code])
        if not available:
            raise ValueError(f"no catalogue item is in force on {day.isoformat()}")
        return self.rng.choices(available, weights)[0]

    def _applicant(self, item: ItemVersion) -> tuple[str, str, str]:
        rng = self.rng
        personal = any(word in item.item_name for word in _PERSON_ITEM_WORDS)
        if rng.random() < (0.95 if personal else 0.15):
            return "person", fake_person_name(rng), fake_person_id(rng)
        return "enterprise", fake_company_name(rng), fake_credit_code(rng)

    def _channel(self, item: ItemVersion) -> str:
        if item.fully_online:
            return self.rng.choices(("web", "app", "kiosk", "window"), (45, 30, 10, 15))[0]
        return self.rng.choices(("window", "web", "app", "kiosk"), (40, 30, 20, 10))[0]

    def make_profiles(self) -> None:
        rng = self.rng
        for i in range(self.n):
            day = rng.choice(self.days)
            item = self._item_on(day)
            kind, name, ident = self._applicant(item)
            self.cases.append(
                _Case(
                    index=i,
                    item=item,
                    day=day,
                    offset=rng.randrange(0, _DAY_SECONDS - 600),
                    channel=self._channel(item),
                    applicant_kind=kind,
                    applicant_name=name,
                    applicant_id=ident,
                    town=rng.choice(TOWNS),
                )
            )
        self._bundles()
        self._traits()

    def _bundles(self) -> None:
        """一件事一次办: groups of 2-3 cases, one applicant, one submission, one receipt."""
        rng = self.rng
        target = _quota(0.02, self.n, rng)
        free = list(range(self.n))
        rng.shuffle(free)
        bundle = 0
        while target >= 2 and len(free) >= 3:
            size = 3 if target >= 3 and rng.random() < 0.4 else 2
            members = [self.cases[free.pop()] for _ in range(size)]
            lead = members[0]
            codes = {lead.item.item_code}
            for m in members[1:]:
                m.day, m.offset = lead.day, lead.offset
                m.channel, m.town = lead.channel, lead.town
                m.applicant_kind, m.applicant_name = lead.applicant_kind, lead.applicant_name
                m.applicant_id = lead.applicant_id
                for _ in range(20):  # a different item each, when the catalogue allows
                    m.item = self._item_on(m.day)
                    if m.item.item_code not in codes:
                        break
                codes.add(m.item.item_code)
            for m in members:
                m.bundle = bundle
            bundle += 1
            target -= size

    def _pick(self, pool: list[_Case], count: int) -> list[_Case]:
        """Take ``count`` cases out of ``pool`` (in place), at random."""
        chosen: list[_Case] = []
        for _ in range(min(count, len(pool))):
            chosen.append(pool.pop(self.rng.randrange(len(pool))))
        return chosen

    def _traits(self) -> None:
        rng, n = self.rng, self.n
        plain = [c for c in self.cases if c.bundle is None]
        for c in self._pick([c for c in plain if len(c.item.steps) >= 2], _quota(0.003, n, rng)):
            c.instant = True
        pool = [c for c in plain if not c.instant]
        for c in self._pick(pool, _quota(0.01, n, rng)):
            c.intake = "correction_twice"
        for c in self._pick(pool, _quota(0.03, n, rng)):
            c.intake = "rejected"
        for c in self._pick(pool, _quota(0.005, n, rng)):
            c.intake = "rejected_no_reason"
        for c in self._pick(pool, _quota(0.02, n, rng)):
            c.intake = "late"
        for c in self._pick(pool, _quota(0.10, n, rng)):
            c.intake = "correction"
        # Withdrawals: half while awaiting intake, half during the steps.
        withdrawn = self._pick(pool, _quota(0.01, n, rng))
        for j, c in enumerate(withdrawn):
            c.outcome = "withdrawn"
            c.withdraw_early = j % 2 == 0
        accepted = [
            c
            for c in self.cases
            if not c.instant
            and c.intake in ("direct", "correction", "correction_twice", "late")
            and c.outcome == "approved"
        ]
        denied = self._pick(accepted, _quota(0.01, n, rng))
        for j, c in enumerate(denied):
            c.outcome = "denied"
            c.deny_without_reason = j == 1 or (j > 1 and rng.random() < 0.2)
        for c in self._pick(accepted, _quota(0.004, n, rng)):
            c.outcome = "terminated"
        for c in self._pick(accepted, _quota(0.005, n, rng)):
            c.outcome = "transferred"
        approved = [c for c in accepted if c.outcome == "approved"]
        susp = [c for c in approved if c.item.suspendable]
        suspended = self._pick(susp, _quota(0.05, len(susp), rng))
        for j, c in enumerate(suspended):
            c.suspensions = 2 if j == 0 and len(suspended) >= 3 else 1
        ext = [c for c in approved if c.item.extension_days > 0 and c.intake != "late"]
        for c in self._pick(ext, _quota(0.03, n, rng)):
            c.extended = True
        for c in self._pick(list(approved), _quota(0.08, n, rng)):
            c.late = True
        for c in self._pick(list(approved), _quota(0.02, n, rng)):
            c.mid_correction = True
        recent = set(self.days[-_OPEN_WINDOW_DAYS:])
        late_ones = [c for c in approved if c.day in recent and c.bundle is None]
        for c in self._pick(late_ones, _quota(0.10, len(late_ones), rng)):
            c.leave_open = True
        closed = [c for c in self.cases if not c.leave_open and not c.instant]
        for c in self._pick(closed, _quota(0.005, n, rng)):
            c.backdate = True

    # -- case plans --------------------------------------------------------- #

    def _handler(self, c: _Case) -> str:
        return self.rng.choice(self.staff[c.item.department])

    def plan_case(self, c: _Case, bundle_accept: dict[int, tuple[date, int]]) -> None:
        """Lay out one case's records on working days, in lifecycle order."""
        rng, clock, plan = self.rng, self.clock, c.plan
        submitted: dict[str, Any] = {
            "item_code": c.item.item_code,
            "channel": c.channel,
            "applicant_kind": c.applicant_kind,
            "applicant_name": c.applicant_name,
            "applicant_id": c.applicant_id,
            "town": c.town,
        }
        if c.bundle is not None:
            submitted["bundle_id"] = f"YJS{c.day:%Y%m%d}{c.bundle + 1:03d}"
        plan.append(_Planned(c.day, "submitted", submitted, c.offset))
        if c.instant:
            self._plan_instant(c)
            return
        day = c.day
        if c.outcome == "withdrawn" and c.withdraw_early:
            if rng.random() < 0.5:
                day = clock.add(day, rng.randint(0, 2))
                plan.append(_Planned(day, "correction_requested", self._materials()))
            day = clock.add(day, rng.randint(0, 2))
            plan.append(_Planned(day, "concluded", self._concluded(c, "withdrawn")))
            self._plan_after(c, day, "withdrawn")
            return
        # Intake (受理): corrections first, then one decision.
        notices = {"correction": 1, "correction_twice": 2}.get(c.intake, 0)
        for _ in range(notices):
            day = clock.add(day, rng.choice((0, 1, 1, 2, 3)))
            plan.append(_Planned(day, "correction_requested", self._materials()))
            day = clock.add(day, rng.randint(1, 6))
            plan.append(_Planned(day, "correction_received", {}))
        if c.intake in ("rejected", "rejected_no_reason"):
            day = clock.add(day, rng.choice((0, 1, 2, 3)))
            fields: dict[str, Any] = {}
            if c.intake == "rejected":
                fields["reason"] = rng.choice(_REJECT_REASONS)
            elif rng.random() < 0.5:
                fields["reason"] = ""
            plan.append(_Planned(day, "rejected", fields))
            return
        if c.bundle is not None and c.bundle in bundle_accept:
            day, offset = bundle_accept[c.bundle]
            accept_offset: int | None = offset
        else:
            step = (
                rng.randint(6, 9)
                if c.intake == "late"
                else rng.choices((0, 1, 2, 3), (25, 35, 25, 15))[0]
            )
            day = clock.add(day, step)
            accept_offset = None
            if c.bundle is not None:
                lo = c.offset + 60 if day == c.day else 0
                accept_offset = rng.randrange(lo, max(lo + 1, _DAY_SECONDS - 3600))
                bundle_accept[c.bundle] = (day, accept_offset)
        accepted: dict[str, Any] = {"receipt_no": ""}  # numbered once times are known
        plan.append(_Planned(day, "accepted", accepted, accept_offset))
        clock_start = c.day if c.intake == "late" else day
        self._plan_steps(c, day, clock_start)

    def _materials(self) -> dict[str, Any]:
        return {"materials": self.rng.sample(_MATERIALS, self.rng.randint(1, 3))}

    def _concluded(self, c: _Case, outcome: str) -> dict[str, Any]:
        rng = self.rng
        fields: dict[str, Any] = {"outcome": outcome}
        if outcome == "denied":
            if not c.deny_without_reason:
                fields["reason"] = rng.choice(_DENY_REASONS)
            elif rng.random() < 0.5:
                fields["reason"] = ""
        elif outcome in _OUTCOME_REASONS:
            fields["reason"] = _OUTCOME_REASONS[outcome]
        # 网上办结: fully-online items always; other online submissions mostly.
        if c.channel == "window":
            online = c.item.fully_online and rng.random() < 0.3
        else:
            online = c.item.fully_online or rng.random() < 0.7
        fields["online"] = online
        return fields

    def _durations(self, c: _Case, budget: int) -> tuple[list[int], dict[int, int]]:
        """Working days per step (and per returned first attempt), fitted to the story:
        within ``budget`` when on time, over it when the case is to be late."""
        rng = self.rng
        steps = c.item.steps
        days = [round(rng.triangular(0, s.days, s.days * 0.5)) for s in steps]
        returns = {i: rng.randint(0, 1) for i in range(len(steps)) if rng.random() < 0.03}
        total = sum(days) + sum(returns.values())
        if c.late:
            target = max(budget, 0) + rng.randint(1, 6)
        elif c.extended:
            target = min(budget, c.item.promised_days + rng.randint(0, c.item.extension_days))
        else:
            target = min(total, max(budget, 0))
        while total < target:
            i = rng.randrange(len(days))
            days[i] += 1
            total += 1
        while total > target:
            i = max(range(len(days)), key=lambda k: days[k])
            if days[i] == 0:
                for k in list(returns):
                    if returns[k] and total > target:
                        returns[k] -= 1
                        total -= 1
                break
            days[i] -= 1
            total -= 1
        return days, returns

    def _plan_steps(self, c: _Case, accept_day: date, clock_start: date) -> None:
        """Steps in catalogue order, with the case's suspensions, corrections, extension,
        returns, denial, withdrawal or open end. Days are counted as "active" working days
        (the clock runs) plus pauses (suspension, correction), exactly as the due date is."""
        rng, clock, item, plan = self.rng, self.clock, c.item, c.plan
        steps = item.steps
        elapsed = self._between(clock_start, accept_day)
        extension = 0
        if c.extended:
            extension = rng.randint(max(1, item.extension_days // 2), item.extension_days)
        days, returns = self._durations(c, item.promised_days + extension - elapsed)
        active = pause = 0

        def when(a: int) -> date:
            return clock.add(accept_day, a + pause)

        last = len(steps) - 1
        deny_at = last - min(rng.randrange(3), last)
        stop_at = rng.randrange(len(steps)) if c.outcome in ("withdrawn", "terminated") else -1
        open_at = rng.randrange(1, 2 * len(steps) + 1) if c.leave_open else -1
        suspend_at = [rng.randrange(len(steps)) for _ in range(c.suspensions)]
        correct_at = rng.randrange(1, len(steps)) if c.mid_correction and last > 0 else -1
        before_due = max(1, item.promised_days - elapsed)
        ext_at = (
            max(i for i in range(len(steps)) if sum(days[:i]) < before_due) if extension else -1
        )
        step_records = 0
        for i, step in enumerate(steps):
            if i == stop_at:
                plan.append(_Planned(when(active), "concluded", self._concluded(c, c.outcome)))
                self._plan_after(c, when(active), c.outcome)
                return
            if i == correct_at:
                plan.append(_Planned(when(active), "correction_requested", self._materials()))
                pause += rng.randint(1, 5)
                plan.append(_Planned(when(active), "correction_received", {}))
            handler = self._handler(c)
            attempts = [returns[i], days[i]] if i in returns else [days[i]]
            for n_attempt, length in enumerate(attempts):
                final = n_attempt == len(attempts) - 1
                if step_records == open_at:
                    return
                start = {"step": step.name, "handler": handler}
                plan.append(_Planned(when(active), "step_started", start))
                step_records += 1
                if i == ext_at and n_attempt == 0:
                    approver = f"{self.leaders[item.department]}（{item.department}分管负责人）"
                    extended = {
                        "days": extension,
                        "reason": rng.choice(_EXTEND_REASONS),
                        "approved_by": approver,
                    }
                    plan.append(_Planned(when(active), "extended", extended))
                suspensions = suspend_at.count(i) if final else 0
                before = rng.randint(0, length) if suspensions else length
                active += before
                for _ in range(suspensions):
                    suspended = self._suspension(item)
                    plan.append(_Planned(when(active), "suspended", suspended))
                    pause += max(1, suspended["expected_days"] + rng.randint(-2, 3))
                    plan.append(_Planned(when(active), "resumed", {}))
                active += length - before
                if step_records == open_at:
                    return
                done: dict[str, Any] = {
                    "step": step.name,
                    "handler": handler,
                    "decision": "pass" if final else "return",
                }
                if c.outcome == "denied" and i == deny_at and final:
                    done["decision"] = "deny"
                    done["opinion"] = rng.choice(_DENY_REASONS)
                elif not final:
                    done["opinion"] = "材料需补充说明，退回重新审查"
                elif rng.random() < 0.3:
                    done["opinion"] = rng.choice(("同意", "材料齐全，符合法定条件", "核查属实"))
                plan.append(_Planned(when(active), "step_completed", done))
                step_records += 1
                if done["decision"] == "deny":
                    plan.append(_Planned(when(active), "concluded", self._concluded(c, "denied")))
                    self._plan_after(c, when(active), "denied")
                    return
        if step_records == open_at:
            return
        plan.append(_Planned(when(active), "concluded", self._concluded(c, c.outcome)))
        self._plan_after(c, when(active), c.outcome)

    def _between(self, a: date, b: date) -> int:
        return self.clock.cal.working_days_between(a, b)

    def _suspension(self, item: ItemVersion) -> dict[str, Any]:
        rng = self.rng
        code = item.item_code
        if code.startswith("ZRZY"):
            procedure = rng.choice(("hearing", "tender", "auction"))
        elif code.startswith("NY"):
            procedure = "quarantine"
        elif code.startswith(("SCJG", "SHW")):
            procedure = rng.choice(("testing", "appraisal"))
        else:
            procedure = rng.choice(("expert_review", "hearing", "appraisal", "testing"))
        reasons = {
            "hearing": "申请事项涉及他人重大利益，依法组织听证",
            "tender": "土地使用权依法需通过招标方式确定",
            "auction": "依法需通过拍卖方式确定",
            "testing": "需委托第三方机构进行检验检测",
            "quarantine": "需对动物及动物产品进行检疫",
            "appraisal": "需委托专业机构进行技术鉴定",
            "expert_review": "技术方案复杂，需组织专家评审",
        }
        return {
            "procedure": procedure,
            "reason": reasons[procedure],
            "expected_days": rng.choice((3, 5, 5, 10, 15)),
        }

    def _plan_after(self, c: _Case, day: date, outcome: str) -> None:
        """Delivery (送达) and rating (好差评) after the conclusion."""
        rng, clock, plan = self.rng, self.clock, c.plan
        last = day
        if outcome in ("approved", "denied") and rng.random() < (
            0.95 if outcome == "approved" else 0.85
        ):
            online = c.channel != "window"
            if c.item.fully_online or online:
                method = rng.choices(("electronic", "post", "window"), (60, 20, 20))[0]
            else:
                method = rng.choices(("window", "post", "electronic"), (60, 25, 15))[0]
            visits = (1 if c.channel in ("window", "kiosk") else 0) + (
                1 if method == "window" else 0
            )
            if method == "window":
                visits = max(1, visits)
            last = clock.add(day, 0 if method == "electronic" else rng.randint(0, 3))
            plan.append(_Planned(last, "delivered", {"method": method, "site_visits": visits}))
        chance = 0.2 if outcome == "withdrawn" else 0.6
        if outcome in ("terminated", "transferred") or rng.random() >= chance:
            return
        if outcome == "denied" or c.late:
            level = rng.choices((1, 2, 3, 4, 5), (10, 15, 25, 25, 25))[0]
        else:
            level = rng.choices((1, 2, 3, 4, 5), (1, 2, 7, 20, 70))[0]
        rated: dict[str, Any] = {"level": level}
        if rng.random() < 0.5:
            rated["comment"] = rng.choice(_RATING_COMMENTS[level])
        last = clock.add(last, rng.randint(0, 3))
        plan.append(_Planned(last, "rated", rated))
        answer = {1: 0.95, 2: 0.95, 3: 0.1}.get(level, 0.03)
        if rng.random() < answer:
            wait = rng.randint(1, 4) if rng.random() < 0.88 else rng.randint(6, 12)
            reply = _RATING_REPLIES[2] if level >= 3 else rng.choice(_RATING_REPLIES[:2])
            plan.append(_Planned(clock.add(last, wait), "rating_answered", {"reply": reply}))

    def _plan_instant(self, c: _Case) -> None:
        """体外循环: submitted, accepted, every step and concluded within a minute."""
        rng, plan = self.rng, c.plan
        # Keep the whole minute on one side of the lunch break and inside the day.
        if _MORNING[1] - 120 <= c.offset < _MORNING[1]:
            c.offset = _MORNING[1]
        c.offset = min(c.offset, _DAY_SECONDS - 120)
        plan[0].offset = c.offset
        offset = c.offset

        def nxt() -> int:
            nonlocal offset
            offset += rng.randint(2, 4)
            return offset

        plan.append(_Planned(c.day, "accepted", {"receipt_no": ""}, nxt()))
        handler = self._handler(c)
        for step in c.item.steps:
            plan.append(
                _Planned(c.day, "step_started", {"step": step.name, "handler": handler}, nxt())
            )
            done = {"step": step.name, "handler": handler, "decision": "pass"}
            plan.append(_Planned(c.day, "step_completed", done, nxt()))
        plan.append(_Planned(c.day, "concluded", self._concluded(c, "approved"), nxt()))
        self._plan_after(c, self.clock.add(c.day, 1), "approved")

    # -- times and numbering ------------------------------------------------ #

    def _timed(self, plan: Sequence[_Planned]) -> list[tuple[datetime, str, dict[str, Any]]]:
        """Draw exact times: strictly increasing, inside working hours where possible."""
        out: list[tuple[datetime, str, dict[str, Any]]] = []
        i = 0
        prev_day: date | None = None
        prev_off = -1
        while i < len(plan):
            j = i
            while j < len(plan) and plan[j].day == plan[i].day:
                j += 1
            run = plan[i:j]
            lo = prev_off + 1 if run[0].day == prev_day else 0
            k = 0
            while k < len(run):
                if run[k].offset is not None:
                    off = max(int(run[k].offset or 0), lo)
                    out.append((_at(run[k].day, off), run[k].kind, run[k].fields))
                    lo = off + 1
                    k += 1
                    continue
                m = k
                while m < len(run) and run[m].offset is None:
                    m += 1
                hi = next(
                    (int(r.offset or 0) for r in run[m:] if r.offset is not None), _DAY_SECONDS
                )
                count = m - k
                if hi - lo >= count:
                    offsets = sorted(self.rng.sample(range(lo, hi), count))
                else:
                    offsets = list(range(lo, lo + count))
                for r, off in zip(run[k:m], offsets, strict=True):
                    out.append((_at(r.day, off), r.kind, r.fields))
                lo = offsets[-1] + 1
                k = m
            prev_day, prev_off = run[0].day, lo - 1
            i = j
        return out

    def build(self) -> list[dict[str, Any]]:
        """Profiles, then per-case plans, then exact times, numbers and the merge."""
        self.make_profiles()
        bundle_accept: dict[int, tuple[date, int]] = {}
        for c in sorted(self.cases, key=lambda c: (c.bundle is None, c.bundle or 0, c.index)):
            self.plan_case(c, bundle_accept)
        # Case numbers follow submission order, per day: DG + date + 5 digits.
        per_day: dict[date, int] = {}
        for c in sorted(self.cases, key=lambda c: (c.day, c.offset, c.index)):
            per_day[c.day] = per_day.get(c.day, 0) + 1
            c.case_id = f"DG{c.day:%Y%m%d}{per_day[c.day]:05d}"
        for c in self.cases:
            c.records = self._timed(c.plan)
        self._number_receipts()
        streams: list[list[dict[str, Any]]] = []
        for c in self.cases:
            streams.append(
                [self._record(at, kind, {"case_id": c.case_id, **f}) for at, kind, f in c.records]
            )
        for c in self.cases:
            if c.backdate and c.records:
                last = streams[c.index][-1]
                at = datetime.fromisoformat(last["at"])
                later = self.clock.add(at.date(), self.rng.randint(3, 5))
                last_at = _at(later, self.rng.randrange(0, _DAY_SECONDS))
                streams[c.index][-1] = self._with_recorded_at(last, last_at)
        streams.extend(self._complaints())
        streams.extend(self._supervision())
        return self._merge(streams)

    def _number_receipts(self) -> None:
        """Receipt numbers in acceptance order; a bundle shares its first member's."""
        accepted = [
            (at, c.index, fields)
            for c in self.cases
            for at, kind, fields in c.records
            if kind == "accepted"
        ]
        per_day: dict[date, int] = {}
        bundle_receipt: dict[int, tuple[str, str | None]] = {}
        for at, index, fields in sorted(accepted, key=lambda a: (a[0], a[1])):
            c = self.cases[index]
            if c.bundle is not None and c.bundle in bundle_receipt:
                receipt, query = bundle_receipt[c.bundle]
            else:
                day = at.date()
                per_day[day] = per_day.get(day, 0) + 1
                receipt = f"SL{day:%Y%m%d}{per_day[day]:05d}"
                query = None
                if self.rng.random() < 0.5:
                    query = "".join(self.rng.choice("0123456789") for _ in range(6))
                if c.bundle is not None:
                    bundle_receipt[c.bundle] = (receipt, query)
            fields["receipt_no"] = receipt
            if query is not None:
                fields["query_code"] = query

    def _record(self, at: datetime, kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A record entered when it happened: a historical backfill carries ``recorded_at``,
        otherwise hallwatch would take the time it receives the file and flag it back-dated."""
        when = _rfc3339(at)
        return {
            "record_id": "",
            "kind": kind,
            "at": when,
            "recorded_at": when,
            "source": self.source,
            **fields,
        }

    @staticmethod
    def _with_recorded_at(record: dict[str, Any], recorded: datetime) -> dict[str, Any]:
        out = dict(record)
        out["recorded_at"] = _rfc3339(recorded)
        return out

    # -- complaints and supervision ----------------------------------------- #

    def _complaints(self) -> list[list[dict[str, Any]]]:
        """About 1 complaint per 100 cases: about a case (mostly) or a department."""
        rng, clock = self.rng, self.clock
        streams: list[list[dict[str, Any]]] = []
        count = _quota(0.01, self.n, rng)
        candidates = [c for c in self.cases if len(c.records) >= 2]
        for j in range(count):
            about_case = rng.random() < 0.7 and candidates
            dept: str
            fields: dict[str, Any]
            if about_case:
                c = rng.choice(candidates)
                base = rng.choice(c.records[1:])[0].date()
                dept = c.item.department
                fields = {"case_id": c.case_id}
            else:
                base = rng.choice(self.days)
                dept = rng.choice(self.departments)
                fields = {"department": dept}
            day = clock.add(base, rng.randint(1, 3))
            complaint_id = f"TS{day:%Y%m%d}{j + 1:04d}"
            channel = rng.choices(("hotline", "web", "app", "window"), (45, 30, 20, 5))[0]
            plan = [
                _Planned(
                    day,
                    "complaint_filed",
                    {**fields, "channel": channel, "content": rng.choice(_COMPLAINTS)},
                )
            ]
            day = clock.add(day, rng.choices((0, 1, 2, 3, 7), (20, 40, 20, 15, 5))[0])
            if j % 4 == 1:
                plan.append(
                    _Planned(day, "complaint_rejected", {"reason": rng.choice(_COMPLAINT_REJECTS)})
                )
            else:
                plan.append(_Planned(day, "complaint_accepted", {}))
                plan.append(_Planned(day, "complaint_assigned", {"department": dept}))
                day = clock.add(day, rng.randint(1, 10))
                plan.append(
                    _Planned(day, "complaint_replied", {"reply": rng.choice(_COMPLAINT_REPLIES)})
                )
                day = clock.add(day, rng.randint(1, 3))
                closed: dict[str, Any] = {}
                if rng.random() < 0.8:
                    closed["satisfied"] = rng.random() < 0.75
                plan.append(_Planned(day, "complaint_closed", closed))
            streams.append(
                [
                    self._record(at, kind, {"complaint_id": complaint_id, **f})
                    for at, kind, f in self._timed(plan)
                ]
            )
        return streams

    def _supervision(self) -> list[list[dict[str, Any]]]:
        """A few supervision orders (督办单), mostly about late or open cases; most answered."""
        rng, clock = self.rng, self.clock
        streams: list[list[dict[str, Any]]] = []
        count = max(1, self.n // 75) if self.n >= 20 else 0
        troubled = [
            c
            for c in self.cases
            if (c.late or c.leave_open or c.intake == "late") and len(c.records) >= 2
        ]
        for j in range(count):
            fields: dict[str, Any]
            if troubled and j % 3 != 2:
                c = troubled.pop(rng.randrange(len(troubled)))
                base = c.records[1][0].date()
                day = clock.add(base, rng.randint(c.item.promised_days, c.item.promised_days + 5))
                fields = {"case_id": c.case_id}
                note = _SUPERVISION_NOTES[0]
            else:
                day = clock.add(self.days[-1], rng.randint(1, 5))
                fields = {"department": rng.choice(self.departments)}
                note = rng.choice(_SUPERVISION_NOTES[1:])
            due = rng.choice((3, 5))
            order_id = f"DB{day:%Y%m%d}{j + 1:03d}"
            plan = [
                _Planned(
                    day,
                    "supervision_ordered",
                    {**fields, "inspector": rng.choice(_INSPECTORS), "due_days": due, "note": note},
                )
            ]
            if j != 2:  # the third order stays unanswered: an escalation to show
                wait = rng.randint(1, due) if rng.random() < 0.85 else due + rng.randint(1, 3)
                plan.append(
                    _Planned(
                        clock.add(day, wait),
                        "supervision_answered",
                        {"reply": rng.choice(_SUPERVISION_REPLIES)},
                    )
                )
            streams.append(
                [
                    self._record(at, kind, {"order_id": order_id, **f})
                    for at, kind, f in self._timed(plan)
                ]
            )
        return streams

    def _merge(self, streams: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
        """All records by arrival; ties keep stream and in-stream order (deterministic)."""
        keyed: list[tuple[datetime, int, int, dict[str, Any]]] = []
        for s, stream in enumerate(streams):
            for k, record in enumerate(stream):
                arrival = datetime.fromisoformat(record.get("recorded_at") or record["at"])
                keyed.append((arrival, s, k, record))
        keyed.sort(key=lambda t: (t[0], t[1], t[2]))
        out: list[dict[str, Any]] = []
        for n, (_, _, _, record) in enumerate(keyed, start=1):
            record["record_id"] = f"{self.source}-{n:08d}"
            out.append(record)
        return out


def generate_records(
    *,
    cases: int,
    start: date,
    seed: int = 7,
    source: str = "dongguan-hall",
    catalogue_path: Path | None = None,
) -> list[dict[str, Any]]:
    """Generate the intake records of ``cases`` cases submitted from ``start`` on.

    Deterministic for the arguments; sorted by arrival; ``record_id`` is
    ``f"{source}-{n:08d}"`` in arrival order. The catalogue defaults to the shipped one.
    """
    if cases < 0:
        raise ValueError(f"cases must be >= 0, got {cases}")
    parsed = parse_catalogue(catalogue_path or sample_catalogue_path())
    catalogue = Catalogue(parsed.versions)
    if len(catalogue) == 0:
        raise ValueError("the catalogue has no usable item")
    return _Simulation(cases, start, seed, source, catalogue).build()


def write_jsonl(records: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write records as JSON Lines (UTF-8, one object a line); return how many.

    Written to a temporary file and renamed, so a reader never sees half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with tmp.open("wb") as fh:
            for record in records:
                fh.write(orjson.dumps(dict(record)))
                fh.write(b"\n")
                count += 1
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--cases N --start YYYY-MM-DD --seed S --out FILE`` (stdout without --out)."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.simulate", description="Generate realistic intake records."
    )
    parser.add_argument("--cases", type=int, default=300, help="number of cases (default 300)")
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2026, 3, 2),
        help="first submission day, YYYY-MM-DD",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--source", default="dongguan-hall", help="source name and record_id prefix"
    )
    parser.add_argument(
        "--catalogue", type=Path, default=None, help="catalogue CSV (default: shipped sample)"
    )
    parser.add_argument("--out", type=Path, default=None, help="output file (default: stdout)")
    args = parser.parse_args(argv)
    if args.cases < 0:
        parser.error("--cases must be >= 0")
    records = generate_records(
        cases=args.cases,
        start=args.start,
        seed=args.seed,
        source=args.source,
        catalogue_path=args.catalogue,
    )
    if args.out is None:
        for record in records:
            sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
        return 0
    count = write_jsonl(records, args.out)
    print(f"wrote {count} records of {args.cases} cases to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
