"""Inspectors' queries on the read models: the case table and the alert list, now or
as of any past time (按时间回溯).

"As of T" means as things stood at T by when they happened (the events' own
times), the same cut ``hallwatch case REF --as-of T`` makes in the event store:

* the case table as of T is rebuilt from the ``events`` table (every event with
  its data): status after the latest lifecycle event up to T, the case's own due
  and warning dates as the latest case-clock event up to T set them (acceptance,
  correction received, resumption, extension, conclusion; never a step's dates;
  a later suspension does not move them back in time), as ``hallwatch case REF
  --as-of T`` shows them;
* the alert list as of T holds the alerts and violations raised up to T; an
  alert is *open* at T while what it is about is still unresolved then (the
  case not concluded, the step not completed, the complaint not replied, the
  order not answered, the bad review not answered…).

The statuses come from the one status machine (``domain.lifecycle``) and every
other word from ``domain.vocabulary``: the SQL is generated from them. Every query
reads deduplicated data (``FINAL``, ``argMax`` or ``LIMIT 1 BY``): a re-delivered
event never shows twice. docs/kpis.md explains the as-of case state; only SQL
that chdb and ClickHouse 18.16 both accept (``projections.clickhouse.common``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from domain import clock
from domain.lifecycle import STATUS_AFTER, lifecycle_events
from domain.vocabulary import (
    ACCEPTED_OPEN,
    OPEN_STATUSES,
    PAUSED_STATUSES,
    TIME_ZONE,
    AlertKind,
    CaseStatus,
    CorrectionStage,
    StreamKind,
    event_type,
)
from projections.clickhouse import Reader, day, equals, quote, quote_all, ts
from projections.scope import Scope

DEFAULT_LIMIT = 1000
CASE_COLUMNS = (
    "case_id", "receipt_no", "department", "town", "item_code", "status", "submitted_at",
    "accepted_at", "due_date", "warn_date", "concluded_at", "overdue", "warning",
)  # fmt: skip
ALERT_COLUMNS = (
    "alert_id", "kind", "category", "stream_kind", "subject", "step", "department", "town",
    "item_code", "deadline", "detail", "raised_at", "recorded_at", "open",
)  # fmt: skip


def _in_status_order(statuses: Collection[str]) -> tuple[str, ...]:
    """These statuses as plain strings, in ``CaseStatus`` order (stable SQL text)."""
    return tuple(s.value for s in CaseStatus if s in statuses)


#: The open statuses (在办), for ``open_only``.
OPEN_CASE = _in_status_order(OPEN_STATUSES)
#: Accepted and open with the clock running; and with it stopped (暂停计时).
_RUNNING = _in_status_order(ACCEPTED_OPEN - PAUSED_STATUSES)
_PAUSED = _in_status_order(PAUSED_STATUSES)
_CASE = StreamKind.CASE.value
_CONCLUDED = quote(CaseStatus.CONCLUDED.value)
_IN_PROGRESS = quote(CaseStatus.IN_PROGRESS.value)


def _filters(column_values: dict[str, str | None]) -> list[str]:
    return [equals(col, v) for col, v in column_values.items() if v]


#: The case events that set the case's OWN due and warning dates (docs/contracts.md §3),
#: besides a correction received during handling (``_HANDLING``). Step events carry a
#: step's dates under the same field names: they are never read for the case's.
_CASE_CLOCK_EVENTS = ("accepted", "resumed", "extended", "concluded")
#: The events after which the case's clock runs again (as ``Case.paused_since`` follows),
#: besides a correction received during handling.
_CLOCK_RUNS_EVENTS = ("accepted", "resumed", "concluded")
#: The case's lifecycle events (short names): the status follows the latest of them.
_LIFECYCLE_EVENTS = lifecycle_events(_CASE)
_INTAKE, _HANDLING_STAGE = CorrectionStage.INTAKE.value, CorrectionStage.HANDLING.value
_STAGE = "visitParamExtractString(data, 'stage')"
_HANDLING = f"{_STAGE} = {quote(_HANDLING_STAGE)}"


def _t(name: str) -> str:
    """The quoted CloudEvents type of a case event: ``_t("accepted")``."""
    return quote(event_type(f"{_CASE}.{name}"))


def _types(*names: str) -> str:
    """``type IN (…)`` operands: the full CloudEvents types of these case events."""
    return ", ".join(_t(n) for n in names)


def _status_sql() -> str:
    """``multiIf`` of the status after the latest lifecycle event (``last``, a type) and
    the latest correction's ``stage``, generated from ``domain.lifecycle.STATUS_AFTER``."""
    arms = []
    for name, after in STATUS_AFTER.items():
        if not name.startswith(f"{_CASE}."):
            continue
        if isinstance(after, str):
            status = quote(after)
        else:
            status = (
                f"if(stage = {quote(_INTAKE)}, {quote(after[_INTAKE])}, "
                f"{quote(after[_HANDLING_STAGE])})"
            )
        arms.append(f"    last = {quote(event_type(name))}, {status},\n")
    return "multiIf(\n" + "".join(arms) + "    'unknown')"


_STATUS = _status_sql()


def case_state_sql(at: datetime, *, strict: bool = False) -> str:
    """Every case as it stood at ``at`` (by when things happened), from the ``events``
    table: the status after its latest lifecycle event; its due and warning dates as the
    latest event that sets the *case's* dates left them (``_CASE_CLOCK_EVENTS``, never a
    step's); where and what it is. For a case whose clock is stopped then (suspended,
    or a correction after acceptance), ``paused_since_ts`` is when the pause began (the
    first pausing event after the clock last ran, as ``Case.paused_since``; Unix time),
    0 otherwise. ``strict`` compares ``occurred_at < at`` (the end of a month) instead
    of ``<=``."""
    return f"""
SELECT cid AS case_id, dep AS department, item AS item_code, item_name, town, channel,
  receipt_no, submitted_at,
  if(intake_s = '', NULL, toDate(if(intake_s = '', '1970-01-02', intake_s))) AS intake_due,
  if(accepted_raw = toDateTime(0), NULL, accepted_raw) AS accepted_at,
  if(concluded_raw = toDateTime(0), NULL, concluded_raw) AS concluded_at,
  {_STATUS} AS status,
  status IN ({quote_all(_RUNNING)}) AS running,
  status IN ({quote_all(_PAUSED)}) AS paused,
  if(paused AND ran_version > 0, arrayReduce('min', arrayMap(p -> tupleElement(p, 2),
     arrayFilter(p -> tupleElement(p, 1) > ran_version, pause_events))), 0) AS paused_since_ts,
  if(due_s = '', NULL, toDate(if(due_s = '', '1970-01-02', due_s))) AS due,
  if(warn_s = '', NULL, toDate(if(warn_s = '', '1970-01-02', warn_s))) AS warn,
  on_time_s, last_version AS version
FROM
({_per_case_sql(at, strict)})
WHERE last != ''"""


def _per_case_sql(at: datetime, strict: bool) -> str:
    """One row per case stream: the facts ``case_state_sql`` derives its columns from.

    ``visitParamExtract*`` finds a key at any depth; stored event data has sorted keys
    and none of these event types nests a ``due_date``/``warn_date`` key before its own
    (tests/integration/test_kpi_overdue.py checks the published events)."""
    op = "<" if strict else "<="
    stage = _STAGE
    corrected = f"(type = {_t('correction_received')} AND {_HANDLING})"
    sets_dates = f"(type IN ({_types(*_CASE_CLOCK_EVENTS)}) OR {corrected})"
    # What stops the clock (S) and what (re)starts it (R), as Case.paused_since follows.
    # 18.16 sees no column named only inside a lambda: ran_version is named outside too.
    pauses = f"(type = {_t('suspended')} OR (type = {_t('correction_requested')} AND {_HANDLING}))"
    runs = f"(type IN ({_types(*_CLOCK_RUNS_EVENTS)}) OR {corrected})"
    due = "visitParamExtractString(data, 'due_date')"
    warn = "visitParamExtractString(data, 'warn_date')"
    intake = "visitParamExtractString(data, 'intake_due_date')"
    return f"""
  SELECT stream_id,
    any(subject) AS cid,
    any(department) AS dep,
    any(item_code) AS item,
    argMaxIf(visitParamExtractString(data, 'town'), version,
             type = {_t("submitted")}) AS town,
    argMaxIf(visitParamExtractString(data, 'channel'), version,
             type = {_t("submitted")}) AS channel,
    argMaxIf(visitParamExtractString(data, 'item_name'), version,
             type = {_t("submitted")}) AS item_name,
    argMaxIf({intake}, version,
             type IN ({_types("submitted", "correction_received")}) AND {intake} != '')
      AS intake_s,
    argMaxIf(visitParamExtractString(data, 'receipt_no'), version,
             type = {_t("accepted")}) AS receipt_no,
    minIf(occurred_at, type = {_t("submitted")}) AS submitted_at,
    maxIf(occurred_at, type = {_t("accepted")}) AS accepted_raw,
    maxIf(occurred_at, type IN ({_types("concluded", "rejected")})) AS concluded_raw,
    argMaxIf(type, version, type IN ({_types(*_LIFECYCLE_EVENTS)})) AS last,
    argMaxIf({stage}, version,
             type IN ({_types("correction_requested", "correction_received")})) AS stage,
    argMaxIf({due}, version, {sets_dates} AND {due} != '') AS due_s,
    argMaxIf({warn}, version, {sets_dates} AND {warn} != '') AS warn_s,
    maxIf(version, {runs}) AS ran_version,
    groupArrayIf(tuple(version, toUInt32(occurred_at)), {pauses}) AS pause_events,
    argMaxIf(visitParamExtractRaw(data, 'on_time'), version, type = {_t("concluded")}) AS on_time_s,
    max(version) AS last_version
  FROM events
  WHERE stream_kind = {quote(_CASE)} AND occurred_at {op} {ts(at)}
  GROUP BY stream_id
"""


def case_table(
    ch: Reader,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    department: str | None = None,
    town: str | None = None,
    item_code: str | None = None,
    status: str | None = None,
    overdue_only: bool = False,
    open_only: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """The case table (办件一览): now from ``cases``, or as of a past time from the
    events. ``overdue`` is 审批超时 as ``hallwatch case`` shows it: concluded late, or
    open with its clock running past its due date; ``warning`` an open, running case
    on or past its warning date (黄牌). Most urgent first (overdue, then by due date)."""
    at = as_of or now or datetime.now(TIME_ZONE)
    today = day(clock.local_date(at))
    if as_of is None:
        source = f"""
SELECT case_id, receipt_no, department, town, item_code, status, submitted_at, accepted_at,
  due_date, warn_date, concluded_at,
  (status = {_CONCLUDED} AND ifNull(on_time, 1) = 0)
    OR (status = {_IN_PROGRESS} AND ifNull(due_date < {today}, 0)) AS overdue,
  status = {_IN_PROGRESS} AND ifNull(warn_date <= {today}, 0) AS warning
FROM cases FINAL"""
    else:
        source = f"""
SELECT case_id, receipt_no, department, town, item_code, status, submitted_at, accepted_at,
  due AS due_date, warn AS warn_date, concluded_at,
  (status = {_CONCLUDED} AND on_time_s = 'false')
    OR (running AND ifNull(due < {today}, 0)) AS overdue,
  running AND ifNull(warn <= {today}, 0) AS warning
FROM ({case_state_sql(as_of)})"""
    where = _filters(
        {"department": department, "town": town, "item_code": item_code, "status": status}
    )
    if overdue_only:
        where.append("overdue")
    if open_only:
        where.append(f"status IN ({quote_all(OPEN_CASE)})")
    sql = (
        f"SELECT {', '.join(CASE_COLUMNS)} FROM ({source})"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY overdue DESC, isNull(due_date), due_date, case_id LIMIT {quote(int(limit))}"
    )
    rows = ch.query_dicts(sql)
    for r in rows:
        r["overdue"] = bool(r["overdue"])
        r["warning"] = bool(r["warning"])
    return rows


def alert_list(
    ch: Reader,
    *,
    as_of: datetime | None = None,
    open_only: bool = False,
    department: str | None = None,
    town: str | None = None,
    kind: str | None = None,
    subject: str | None = None,
    item_code: str | None = None,
    since: datetime | None = None,
    scope: Scope | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """Alerts (预警/超时) and violations (违规) raised up to ``as_of`` (default: all) and
    from ``since``, within ``scope``, newest first, each with ``open``: whether what it
    is about was still unresolved at that time."""
    where = _filters(
        {
            "department": department,
            "town": town,
            "kind": kind,
            "subject": subject,
            "item_code": item_code,
        }
    )
    if scope is not None:
        where.append(scope.sql())
    if since is not None:
        where.append(f"raised_at >= {ts(since)}")
    if as_of is not None:
        where.append(f"raised_at <= {ts(as_of)}")
    alerts = ch.query_dicts(
        "SELECT alert_id, kind, category, stream_kind, subject, step, department, town, "
        "item_code, deadline, detail, raised_at, recorded_at FROM alerts "
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + "ORDER BY raised_at DESC, alert_id LIMIT 1 BY alert_id"
        + ("" if open_only else f" LIMIT {quote(int(limit))}")
    )
    resolved = _resolutions(ch, alerts)
    out = []
    for a in alerts:
        a["open"] = _is_open(a, resolved, as_of)
        if open_only and not a["open"]:
            continue
        out.append(a)
        if len(out) >= limit:
            break
    return out


def _ids(rows: Sequence[dict[str, Any]], stream_kind: str) -> str:
    return quote_all(sorted({str(r["subject"]) for r in rows if r["stream_kind"] == stream_kind}))


_COMPLAINT, _SUPERVISION = StreamKind.COMPLAINT.value, StreamKind.SUPERVISION.value
#: Where an alert's subject gets resolved: (stream kind of the alert, table, id column,
#: the columns read, the key the rows are kept under).
_RESOLUTION_READS: tuple[tuple[str, str, str, str, Callable[[dict[str, Any]], str]], ...] = (
    (_CASE, "cases", "case_id", "concluded_at, accepted_at, rating_answered_at",
     lambda r: f"{_CASE}:{r['case_id']}"),
    (_CASE, "steps", "case_id", "step, completed_on",
     lambda r: f"step:{r['case_id']}\x1f{r['step']}"),
    (_COMPLAINT, "complaints", "complaint_id", "replied_at, closed_at",
     lambda r: f"{_COMPLAINT}:{r['complaint_id']}"),
    (_SUPERVISION, "supervision_orders", "order_id", "answered_at",
     lambda r: f"{_SUPERVISION}:{r['order_id']}"),
)  # fmt: skip


def _resolutions(ch: Reader, alerts: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """When each subject of these alerts was resolved, per kind of resolution (None: not
    yet), read from the current tables (their times are when things happened)."""
    out: dict[str, dict[str, Any]] = {}
    for kind, table, id_column, columns, key in _RESOLUTION_READS:
        ids = _ids(alerts, kind)
        if ids:
            for r in ch.query_dicts(
                f"SELECT {id_column}, {columns} FROM {table} FINAL WHERE {id_column} IN ({ids})"
            ):
                out[key(r)] = r
    return out


def _by(value: datetime | None, at: datetime | None) -> bool:
    """Something that happened at ``value`` had happened by ``at`` (None: by now)."""
    return value is not None and (at is None or value <= at)


def _is_open(a: dict[str, Any], resolved: dict[str, dict[str, Any]], at: datetime | None) -> bool:
    kind, sk, subject = a["kind"], a["stream_kind"], a["subject"]
    state = resolved.get(f"{sk}:{subject}")
    if state is None:
        return True  # nothing known of it yet: nothing resolved it
    if sk == _CASE:
        if kind == AlertKind.RATING_UNANSWERED:  # a bad review comes after the conclusion
            return not _by(state["rating_answered_at"], at)
        if _by(state["concluded_at"], at):
            return False  # concluded or rejected: the case's alerts are closed (the breach stays)
        if kind == AlertKind.INTAKE_OVERDUE:
            return not _by(state["accepted_at"], at)
        if kind == AlertKind.STEP_OVERDUE:
            step = resolved.get(f"step:{subject}\x1f{a['step']}")
            done = step.get("completed_on") if step else None
            return done is None or (at is not None and done > clock.local_date(at))
        return True
    if sk == _COMPLAINT:
        return not (_by(state["replied_at"], at) or _by(state["closed_at"], at))
    if sk == _SUPERVISION:
        return not _by(state["answered_at"], at)
    return True
