"""KPIs and monthly rankings (效能评价, 每月一公示): every definition in one place.

To add a KPI: register its function below (``@kpi``; its docstring is the formula),
and add the base counts it reads to the query of their source table. ``hallwatch
rank``, the dashboard and the monthly report all call :func:`rank`; nothing else
computes a KPI. A KPI is a plain function of the month's *base counts* of one group
(a department, a town or an item), read from ClickHouse by :func:`base_counts`.

The conventions (months and dates in Asia/Shanghai, rates exact in [0, 1] or
``None``, duplicates never counted) are docs/contracts.md §6; docs/kpis.md
explains the as-of case state and the overdue rate; docs/domain.md lists the
extra KPIs. ``department`` and ``item`` group a complaint by the case it is about
(else by the department it names); ``town`` by the case's town. Rows whose group
is empty are left out. The ranking (best first) is by :func:`score`; ties by group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from domain import clock
from domain.calendar import WorkCalendar
from domain.vocabulary import (
    BAD_RATING_MAX,
    CLOSED_STATUSES,
    ONLINE_CHANNELS,
    AlertKind,
    CaseStatus,
    Channel,
    ComplaintStatus,
    FlagCategory,
    StreamKind,
    event_type,
)
from projections.clickhouse import Reader, day, quote, quote_all, ts
from projections.month import Month as Month  # kpi.Month: where callers find it
from projections.queries import case_state_sql

Grouping = Literal["department", "town", "item"]
GROUPINGS: tuple[Grouping, ...] = ("department", "town", "item")
Value = int | float | None
Base = Mapping[str, float]

#: The statuses that end a case's lifecycle (办结, 不予受理), in ``CaseStatus`` order.
LIFECYCLE_END = tuple(s.value for s in CaseStatus if s in CLOSED_STATUSES)


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI: its JSON key, its Chinese name, what kind of number it is, and how it
    follows from the base counts (``fn``'s docstring is the formula)."""

    key: str
    zh: str
    kind: Literal["count", "rate", "mean", "per_1000"]
    fn: Callable[[Base], Value]
    contract: bool  # one of docs/contracts.md §6's fixed keys (False: a docs/domain.md extra)

    @property
    def formula(self) -> str:
        return " ".join((self.fn.__doc__ or "").split())

    def __call__(self, base: Base) -> Value:
        return self.fn(base)


KPIS: list[Kpi] = []


def kpi(
    key: str, zh: str, kind: Literal["count", "rate", "mean", "per_1000"], *, contract: bool = True
) -> Callable[[Callable[[Base], Value]], Callable[[Base], Value]]:
    """Register a KPI function under its JSON key (registration order = output order)."""

    def register(fn: Callable[[Base], Value]) -> Callable[[Base], Value]:
        KPIS.append(Kpi(key, zh, kind, fn, contract))
        return fn

    return register


def ratio(num: float, den: float) -> float | None:
    """num / den, ``None`` when there is nothing to divide by (never a fake 0 or 1)."""
    return None if den <= 0 else min(1.0, max(0.0, num / den))


def mean(total: float, n: float) -> float | None:
    return None if n <= 0 else total / n


def _n(base: Base, key: str) -> float:
    return float(base.get(key, 0) or 0)


# --------------------------------------------------------------------------- docs/contracts.md §6


@kpi("submitted", "申报量", "count")
def submitted(b: Base) -> Value:
    """cases submitted in M."""
    return int(_n(b, "submitted"))


@kpi("concluded", "办结量", "count")
def concluded(b: Base) -> Value:
    """cases concluded in M."""
    return int(_n(b, "concluded"))


@kpi("on_time_rate", "按时办结率", "rate")
def on_time_rate(b: Base) -> Value:
    """on-time conclusions / conclusions with a due date: of the cases concluded in M
    with a due date, the share concluded on or before it (the due date the conclusion
    recorded, pauses included)."""
    return ratio(_n(b, "concluded_on_time"), _n(b, "concluded_with_due"))


@kpi("overdue_rate", "审批超时率", "rate")
def overdue_rate(b: Base) -> Value:
    """(concluded late in M + open and past due at the end of M) / (concluded in M
    with a due date + open with a due date at the end of M), each open case as it
    stood then; a paused one is past due if a conclusion on the last day of M would be
    late (docs/kpis.md)."""
    num = _n(b, "concluded_late") + _n(b, "open_overdue_at_end")
    return ratio(num, _n(b, "concluded_with_due") + _n(b, "open_with_due_at_end"))


@kpi("online_rate", "网上办理率", "rate")
def online_rate(b: Base) -> Value:
    """cases submitted in M through web, app or kiosk / cases submitted in M."""
    return ratio(_n(b, "submitted_online"), _n(b, "submitted"))


@kpi("online_conclusion_rate", "网上办结率", "rate")
def online_conclusion_rate(b: Base) -> Value:
    """cases concluded online in M / cases concluded in M."""
    return ratio(_n(b, "concluded_online"), _n(b, "concluded"))


@kpi("fully_online_rate", "全程网办率", "rate")
def fully_online_rate(b: Base) -> Value:
    """cases delivered in M with 0 site visits / cases delivered in M."""
    return ratio(_n(b, "delivered_no_visit"), _n(b, "delivered"))


@kpi("avg_site_visits", "到现场次数", "mean")
def avg_site_visits(b: Base) -> Value:
    """total site visits of the cases delivered in M / cases delivered in M."""
    return mean(_n(b, "site_visits_sum"), _n(b, "delivered"))


@kpi("correction_rate", "补正率", "rate")
def correction_rate(b: Base) -> Value:
    """cases submitted in M with at least one correction notice / cases submitted in M."""
    return ratio(_n(b, "submitted_corrected"), _n(b, "submitted"))


@kpi("avg_handling_days", "平均办理时长（工作日）", "mean")
def avg_handling_days(b: Base) -> Value:
    """mean over the cases concluded in M of the working days in (acceptance date,
    conclusion date]."""
    return mean(_n(b, "handling_days_sum"), _n(b, "concluded_handled"))


@kpi("satisfaction_rate", "服务满意率", "rate")
def satisfaction_rate(b: Base) -> Value:
    """ratings given in M at level 3 (基本满意) or above / ratings given in M."""
    return ratio(_n(b, "ratings_satisfied"), _n(b, "ratings"))


@kpi("bad_reviews", "差评数", "count")
def bad_reviews(b: Base) -> Value:
    """ratings given in M at level 1 or 2 (不满意, 非常不满意)."""
    return int(_n(b, "bad_reviews"))


@kpi("complaints", "投诉量", "count")
def complaints(b: Base) -> Value:
    """complaints filed in M about the group."""
    return int(_n(b, "complaints"))


@kpi("complaints_per_1000", "每千件投诉量", "per_1000")
def complaints_per_1000(b: Base) -> Value:
    """complaints filed in M / cases submitted in M × 1000 (None with no submissions)."""
    sub = _n(b, "submitted")
    return None if sub <= 0 else _n(b, "complaints") / sub * 1000


@kpi("warnings", "预警数", "count")
def warnings(b: Base) -> Value:
    """``case_warning`` alerts raised in M (yellow, 黄牌)."""
    return int(_n(b, "warnings"))


@kpi("overdue_alerts", "超时数", "count")
def overdue_alerts(b: Base) -> Value:
    """``case_overdue`` alerts raised in M (red, 红牌)."""
    return int(_n(b, "overdue_alerts"))


@kpi("violations", "违规数", "count")
def violations(b: Base) -> Value:
    """violation flags (the seven kinds of docs/contracts.md §3) raised in M."""
    return int(_n(b, "violations"))


# --------------------------------------------------------------------------- docs/domain.md extras


@kpi("p90_handling_days", "办理时长90分位", "mean", contract=False)
def p90_handling_days(b: Base) -> Value:
    """the 90th percentile (exact, nearest rank below) of the working days in
    (acceptance date, conclusion date] of the cases concluded in M."""
    return None if _n(b, "concluded_handled") <= 0 else _n(b, "p90_handling_days")


@kpi("visits_le1_rate", "最多跑一次率", "rate", contract=False)
def visits_le1_rate(b: Base) -> Value:
    """cases delivered in M with at most 1 site visit / cases delivered in M."""
    return ratio(_n(b, "delivered_le1"), _n(b, "delivered"))


@kpi("visits_le2_rate", "最多跑两次率", "rate", contract=False)
def visits_le2_rate(b: Base) -> Value:
    """cases delivered in M with at most 2 site visits / cases delivered in M."""
    return ratio(_n(b, "delivered_le2"), _n(b, "delivered"))


@kpi("second_corrections", "二次补正数", "count", contract=False)
def second_corrections(b: Base) -> Value:
    """cases submitted in M that received a second correction notice (a violation)."""
    return int(_n(b, "second_corrections"))


@kpi("bad_review_rectification_rate", "差评整改率", "rate", contract=False)
def bad_review_rectification_rate(b: Base) -> Value:
    """bad reviews given in M answered (rectified, 整改) by their answer due date /
    bad reviews given in M."""
    return ratio(_n(b, "bad_reviews_answered_on_time"), _n(b, "bad_reviews"))


@kpi("complaint_on_time_reply_rate", "投诉按时答复率", "rate", contract=False)
def complaint_on_time_reply_rate(b: Base) -> Value:
    """complaints filed in M and accepted that were replied by their reply due date /
    complaints filed in M that were not rejected (a complaint still unanswered counts
    as not yet on time)."""
    return ratio(_n(b, "complaints_replied_on_time"), _n(b, "complaints_to_answer"))


@kpi("depth_1_rate", "网上深化率（一级）", "rate", contract=False)
def depth_1_rate(b: Base) -> Value:
    """items with cases submitted in M at online depth level 1 / items with cases
    submitted in M (the item version each case was submitted under)."""
    return ratio(_n(b, "items_depth_1"), _n(b, "items"))


@kpi("depth_2_rate", "网上深化率（二级）", "rate", contract=False)
def depth_2_rate(b: Base) -> Value:
    """items with cases submitted in M at online depth level 2 / items with cases
    submitted in M."""
    return ratio(_n(b, "items_depth_2"), _n(b, "items"))


@kpi("depth_3_rate", "网上深化率（三级）", "rate", contract=False)
def depth_3_rate(b: Base) -> Value:
    """items with cases submitted in M at online depth level 3 / items with cases
    submitted in M."""
    return ratio(_n(b, "items_depth_3"), _n(b, "items"))


CONTRACT_KEYS = tuple(k.key for k in KPIS if k.contract)

# --------------------------------------------------------------------------- the score

#: Weights of the composite score (sum 1). Each term is in [0, 1], higher is better.
SCORE_WEIGHTS: dict[str, float] = {
    "on_time_rate": 0.30,
    "overdue_rate": 0.15,  # as 1 - overdue_rate
    "satisfaction_rate": 0.20,
    "online_rate": 0.10,
    "fully_online_rate": 0.10,
    "complaints_per_1000": 0.10,  # as 1 - min(1, complaints_per_1000 / 10)
    "violations": 0.05,  # as 1 - min(1, violations / submitted × 100 / 10)
}

SCORE_SUMMARY = (
    "0-100, weighted: on time 30, not overdue 15, satisfied 20, online 10, fully online 10, "
    "few complaints 10, few violations 5"
)


def score(values: Mapping[str, Value]) -> float | None:
    """The ranking's composite score, 0–100 (higher is better):

    100 × Σ wᵢ·termᵢ / Σ wᵢ over the terms that are defined, with the weights of
    ``SCORE_WEIGHTS`` and the terms on_time_rate, 1 − overdue_rate,
    satisfaction_rate, online_rate, fully_online_rate, 1 − min(1, complaints per
    1,000 cases / 10) and 1 − min(1, violations per 100 submitted cases / 10). A
    term whose rate is None (nothing to measure) is left out and the other weights
    are rescaled; a group with no term at all has no score and ranks last."""
    terms: dict[str, float | None] = {
        "on_time_rate": _f(values.get("on_time_rate")),
        "overdue_rate": _inv(values.get("overdue_rate")),
        "satisfaction_rate": _f(values.get("satisfaction_rate")),
        "online_rate": _f(values.get("online_rate")),
        "fully_online_rate": _f(values.get("fully_online_rate")),
        "complaints_per_1000": _inv(_scaled(values.get("complaints_per_1000"), 10.0)),
        "violations": _inv(_scaled(_per_100(values), 10.0)),
    }
    weight = sum(SCORE_WEIGHTS[k] for k, v in terms.items() if v is not None)
    if weight <= 0:
        return None
    total = sum(SCORE_WEIGHTS[k] * v for k, v in terms.items() if v is not None)
    return round(100.0 * total / weight, 2)


def _f(v: Value) -> float | None:
    return None if v is None else float(v)


def _inv(v: Value) -> float | None:
    return None if v is None else 1.0 - float(v)


def _scaled(v: Value, cap: float) -> float | None:
    return None if v is None else min(1.0, float(v) / cap)


def _per_100(values: Mapping[str, Value]) -> float | None:
    sub = values.get("submitted")
    return None if not sub else float(values.get("violations") or 0) / float(sub) * 100


# --------------------------------------------------------------------------- base counts


def _in(column: str, m: Month) -> str:
    """``column`` (a DateTime, maybe Nullable) falls in M, as a non-Nullable UInt8."""
    return f"ifNull({column} >= {ts(m.start)} AND {column} < {ts(m.end)}, 0)"


_GROUP_COLUMN: dict[Grouping, str] = {
    "department": "department",
    "town": "town",
    "item": "item_code",
}
#: Online channels (网上办理), in ``Channel`` order.
_ONLINE_CHANNELS = tuple(c.value for c in Channel if c in ONLINE_CHANNELS)
_CONCLUDED = quote(CaseStatus.CONCLUDED.value)


def _cases_sql(m: Month, by: Grouping) -> str:
    g = _GROUP_COLUMN[by]
    sub = _in("submitted_at", m)
    con = f"({_in('concluded_at', m)} AND status = {_CONCLUDED})"
    dlv = _in("delivered_at", m)
    online = quote_all(_ONLINE_CHANNELS)
    return f"""
SELECT {g} AS grp,
  countIf({sub}) AS submitted,
  countIf({sub} AND channel IN ({online})) AS submitted_online,
  countIf({sub} AND corrections >= 1) AS submitted_corrected,
  countIf({sub} AND corrections >= 2) AS second_corrections,
  countIf({con}) AS concluded,
  countIf({con} AND isNotNull(on_time)) AS concluded_with_due,
  countIf({con} AND ifNull(on_time, 0) = 1) AS concluded_on_time,
  countIf({con} AND ifNull(on_time, 1) = 0) AS concluded_late,
  countIf({con} AND ifNull(concluded_online, 0) = 1) AS concluded_online,
  countIf({con} AND isNotNull(handling_days)) AS concluded_handled,
  sumIf(ifNull(handling_days, 0), {con}) AS handling_days_sum,
  countIf({dlv}) AS delivered,
  countIf({dlv} AND ifNull(site_visits, 0) = 0) AS delivered_no_visit,
  countIf({dlv} AND ifNull(site_visits, 0) <= 1) AS delivered_le1,
  countIf({dlv} AND ifNull(site_visits, 0) <= 2) AS delivered_le2,
  sumIf(ifNull(site_visits, 0), {dlv}) AS site_visits_sum
FROM cases FINAL
GROUP BY grp"""


def _p90_sql(m: Month, by: Grouping) -> str:
    g = _GROUP_COLUMN[by]
    con = f"({_in('concluded_at', m)} AND status = {_CONCLUDED})"
    return f"""
SELECT {g} AS grp, quantileExact(0.9)(assumeNotNull(handling_days)) AS p90_handling_days
FROM cases FINAL
WHERE {con} AND isNotNull(handling_days)
GROUP BY grp"""


def _ratings_sql(m: Month, by: Grouping) -> str:
    g = _GROUP_COLUMN[by]
    return f"""
SELECT {g} AS grp,
  count() AS ratings,
  countIf(level >= {quote(BAD_RATING_MAX + 1)}) AS ratings_satisfied,
  countIf(level <= {quote(BAD_RATING_MAX)}) AS bad_reviews,
  countIf(level <= {quote(BAD_RATING_MAX)} AND ifNull(answered_on_time, 0) = 1)
    AS bad_reviews_answered_on_time
FROM ratings FINAL
WHERE {_in("rated_at", m)}
GROUP BY grp"""


def _complaints_sql(m: Month, by: Grouping) -> str:
    # One join (18.16): each complaint with its case's town and item; department from
    # the case when there is one, else the department the complaint names.
    grp = {
        "department": "if(c_department != '', c_department, department)",
        "town": "c_town",
        "item": "c_item",
    }[by]
    return f"""
SELECT {grp} AS grp,
  count() AS complaints,
  countIf(status != {quote(ComplaintStatus.REJECTED.value)}) AS complaints_to_answer,
  countIf(ifNull(replied_on_time, 0) = 1) AS complaints_replied_on_time
FROM
(
  SELECT complaint_id, case_id, department, status, replied_on_time
  FROM complaints FINAL
  WHERE {_in("filed_at", m)}
) AS f
ANY LEFT JOIN
(
  SELECT case_id, department AS c_department, town AS c_town, item_code AS c_item
  FROM cases FINAL
) AS k USING (case_id)
GROUP BY grp"""


def _alerts_sql(m: Month, by: Grouping) -> str:
    g = _GROUP_COLUMN[by]
    return f"""
SELECT {g} AS grp,
  uniqExactIf(alert_id, kind = {quote(AlertKind.CASE_WARNING.value)}) AS warnings,
  uniqExactIf(alert_id, kind = {quote(AlertKind.CASE_OVERDUE.value)}) AS overdue_alerts,
  uniqExactIf(alert_id, category = {quote(FlagCategory.VIOLATION.value)}) AS violations
FROM alerts
WHERE {_in("raised_at", m)}
GROUP BY grp"""


_SUBMITTED = quote(event_type(f"{StreamKind.CASE.value}.submitted"))


def _depth_sql(m: Month, by: Grouping) -> str:
    g = _GROUP_COLUMN[by]
    return f"""
SELECT grp,
  uniqExact(item_code) AS items,
  uniqExactIf(item_code, depth = 1) AS items_depth_1,
  uniqExactIf(item_code, depth = 2) AS items_depth_2,
  uniqExactIf(item_code, depth = 3) AS items_depth_3
FROM
(
  SELECT {g} AS grp, item_code, visitParamExtractUInt(data, 'online_depth') AS depth,
         visitParamExtractString(data, 'town') AS town
  FROM events
  WHERE type = {_SUBMITTED} AND {_in("occurred_at", m)}
)
GROUP BY grp"""


def _open_at_end_sql(m: Month, by: Grouping) -> str:
    """Cases open at the end of M with a due date, as they stood then (as-of the events):
    running ones counted, past due when due before the 1st of the next month; paused
    ones one row per (due date, pause start), judged by :func:`_paused_past_due`."""
    g = _GROUP_COLUMN[by]
    return f"""
SELECT {g} AS grp, paused,
  if(paused, due, toDate('1970-01-01')) AS paused_due,
  if(paused, paused_since_ts, 0) AS since_ts,
  count() AS open_with_due_at_end,
  countIf(ifNull(running AND due < {day(m.next_first_day)}, 0)) AS open_overdue_at_end
FROM ({case_state_sql(m.end, strict=True)})
WHERE status NOT IN ({quote_all(LIFECYCLE_END)}) AND due IS NOT NULL
GROUP BY grp, paused, paused_due, since_ts"""


def _paused_past_due(due: date, since: date, last_day: date, cal: WorkCalendar) -> bool:
    """A case paused since ``since`` with ``due`` as its due date: late if concluded on
    ``last_day``, its due date pushed by the pause as ``Case.conclude`` pushes it?"""
    return last_day > clock.paused_due(cal, due, since, last_day)


def _open_at_end(
    ch: Reader, m: Month, by: Grouping, cal: WorkCalendar
) -> dict[str, dict[str, float]]:
    last_day = m.next_first_day - timedelta(days=1)
    out: dict[str, dict[str, float]] = {}
    for row in ch.query_dicts(_open_at_end_sql(m, by)):
        grp = str(row["grp"] or "")
        if not grp:
            continue
        n = int(row["open_with_due_at_end"])
        late = int(row["open_overdue_at_end"])
        if row["paused"]:
            since = clock.local_date(datetime.fromtimestamp(int(row["since_ts"]), UTC))
            late = n if _paused_past_due(row["paused_due"], since, last_day, cal) else 0
        target = out.setdefault(grp, {"open_with_due_at_end": 0.0, "open_overdue_at_end": 0.0})
        target["open_with_due_at_end"] += n
        target["open_overdue_at_end"] += late
    return out


def base_counts(
    ch: Reader, m: Month, by: Grouping, calendar: WorkCalendar | None = None
) -> dict[str, dict[str, float]]:
    """Per group, every base count the KPIs need for month M (one query per source).
    ``calendar``: the working days paused cases are judged by (default: the shipped one;
    pass the deployment's, with its override file)."""
    out: dict[str, dict[str, float]] = {}
    for sql in (
        _cases_sql(m, by),
        _p90_sql(m, by),
        _ratings_sql(m, by),
        _complaints_sql(m, by),
        _alerts_sql(m, by),
        _depth_sql(m, by),
    ):
        for row in ch.query_dicts(sql):
            grp = str(row.pop("grp") or "")
            if not grp:
                continue
            target = out.setdefault(grp, {})
            for k, v in row.items():
                target[k] = float(v or 0)
    for grp, counts in _open_at_end(ch, m, by, calendar or WorkCalendar.default()).items():
        out.setdefault(grp, {}).update(counts)
    return out


def kpis_of(base: Base) -> dict[str, Value]:
    """Every KPI of one group, in registry order, exact (a rate is the float nearest
    num / den: nothing is rounded here; displays round)."""
    return {k.key: k(base) for k in KPIS}


def _relevant(base: Base) -> bool:
    """A group that had anything at all happen in M (not only cases open from before)."""
    return any(
        _n(base, k) > 0
        for k in ("submitted", "concluded", "delivered", "ratings", "complaints", "warnings",
                  "overdue_alerts", "violations", "open_with_due_at_end")
    )  # fmt: skip


def rank(
    ch: Reader, month: Month, by: Grouping, *, calendar: WorkCalendar | None = None
) -> list[dict[str, Any]]:
    """The month's ranking: one object per group, best first, each with ``group``,
    ``rank``, ``score`` and every KPI (docs/contracts.md §6 keys first), rates exact."""
    if by not in GROUPINGS:
        raise ValueError(f"cannot rank by {by!r}: choose one of {', '.join(GROUPINGS)}")
    rows: list[dict[str, Any]] = []
    for grp, base in base_counts(ch, month, by, calendar).items():
        if not _relevant(base):
            continue
        values = kpis_of(base)
        rows.append({"group": grp, "month": str(month), "by": by, **values, "score": score(values)})
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["group"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows
