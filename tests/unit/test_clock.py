"""Clock rules (CONTRACTS §3): properties over 2020–2030 and concrete examples."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import clock
from domain.calendar import WorkCalendar
from domain.clock import (
    INTAKE_LIMIT_DAYS,
    SHANGHAI,
    due_date,
    intake_deadline,
    is_backdated,
    is_overdue,
    local_date,
    overdue_from,
    pause_days,
    shift_due,
    start_of_day,
    warning_date,
    warning_from,
    warning_margin,
)

CAL = WorkCalendar()

# Local settings (not a global profile: other test modules keep their own).
PROPERTY = settings(max_examples=200, deadline=None)

dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
limits = st.integers(min_value=1, max_value=120)
shifts = st.integers(min_value=0, max_value=60)
times_of_day = st.times()


def _at(d: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=SHANGHAI)


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #


@PROPERTY
@given(start=dates, n=limits)
def test_due_date_is_always_a_working_day_after_the_start(start: date, n: int) -> None:
    due = due_date(CAL, start, n)
    assert CAL.is_working_day(due)
    assert due > start


@PROPERTY
@given(a=dates, n=st.integers(min_value=0, max_value=400))
def test_adding_then_counting_working_days_gives_back_n(a: date, n: int) -> None:
    assert CAL.working_days_between(a, CAL.add_working_days(a, n)) == n


@PROPERTY
@given(a=dates, b=dates)
def test_counting_then_adding_lands_on_the_last_working_day_up_to_b(a: date, b: date) -> None:
    k = CAL.working_days_between(a, b)
    if b <= a:
        assert k == 0
        return
    landed = CAL.add_working_days(a, k)
    assert landed <= b
    assert CAL.working_days_between(landed, b) == 0


@PROPERTY
@given(a=dates, b=dates, c=dates)
def test_counting_is_additive_over_adjacent_intervals(a: date, b: date, c: date) -> None:
    a, b, c = sorted((a, b, c))
    total = CAL.working_days_between(a, c)
    assert total == CAL.working_days_between(a, b) + CAL.working_days_between(b, c)


@PROPERTY
@given(a=dates, span=st.integers(min_value=0, max_value=40))
def test_counting_matches_a_day_by_day_count(a: date, span: int) -> None:
    b = a + timedelta(days=span)
    slow = sum(CAL.is_working_day(a + timedelta(days=i)) for i in range(1, span + 1))
    assert CAL.working_days_between(a, b) == slow


@PROPERTY
@given(start=dates, n=limits, s_offset=st.integers(0, 60), length=st.integers(0, 60))
def test_a_pause_never_makes_a_due_date_earlier(
    start: date, n: int, s_offset: int, length: int
) -> None:
    due = due_date(CAL, start, n)
    s = start + timedelta(days=s_offset)
    r = s + timedelta(days=length)
    days = pause_days(CAL, s, r)
    assert days >= 0
    new_due = shift_due(CAL, due, days)
    assert new_due >= due
    assert CAL.working_days_between(due, new_due) == days


@PROPERTY
@given(due=dates, days=shifts)
def test_a_shift_moves_the_due_date_by_exactly_its_working_days(due: date, days: int) -> None:
    new_due = shift_due(CAL, due, days)
    assert CAL.working_days_between(due, new_due) == days
    if days == 0:
        assert new_due == due
    else:
        assert CAL.is_working_day(new_due)


@PROPERTY
@given(start=dates, n=limits)
def test_warning_date_is_a_working_day_within_the_limit(start: date, n: int) -> None:
    warn = warning_date(CAL, start, n)
    due = due_date(CAL, start, n)
    assert CAL.is_working_day(warn)
    assert start < warn <= due
    m = warning_margin(n)
    assert CAL.working_days_between(warn, due) == m - 1


@PROPERTY
@given(start=dates, n=limits, margin=st.integers(min_value=1, max_value=200))
def test_a_large_margin_never_warns_before_the_first_working_day(
    start: date, n: int, margin: int
) -> None:
    warn = warning_date(CAL, start, n, margin)
    assert CAL.next_working_day(start) <= warn <= due_date(CAL, start, n)


@PROPERTY
@given(day=dates, hour=st.integers(0, 23), minute=st.integers(0, 59), later=st.integers(0, 23))
def test_recording_on_the_same_day_is_not_backdated(
    day: date, hour: int, minute: int, later: int
) -> None:
    at = _at(day, hour, minute)
    recorded = _at(day, max(hour, later), minute)
    assert not is_backdated(CAL, at, recorded)


@PROPERTY
@given(day=dates, hour=st.integers(0, 23), rec_hour=st.integers(0, 23))
def test_recording_on_the_next_working_day_is_not_backdated(
    day: date, hour: int, rec_hour: int
) -> None:
    at = _at(day, hour)
    recorded = _at(CAL.next_working_day(day), rec_hour)
    assert not is_backdated(CAL, at, recorded)


@PROPERTY
@given(day=dates, hour=st.integers(0, 23))
def test_recording_two_working_days_later_is_backdated(day: date, hour: int) -> None:
    recorded = _at(CAL.add_working_days(day, 2), 9)
    assert is_backdated(CAL, _at(day, hour), recorded)


@PROPERTY
@given(due=dates, t=times_of_day)
def test_the_whole_due_day_is_on_time_and_the_next_midnight_is_overdue(due: date, t: time) -> None:
    during = datetime.combine(due, t, tzinfo=SHANGHAI)
    assert not is_overdue(due, during)
    assert is_overdue(due, start_of_day(due + timedelta(days=1)))
    assert not is_overdue(due, start_of_day(due + timedelta(days=1)) - timedelta(microseconds=1))


@PROPERTY
@given(submitted=dates)
def test_intake_deadline_is_five_working_days_after_submission(submitted: date) -> None:
    deadline = intake_deadline(CAL, submitted)
    assert CAL.working_days_between(submitted, deadline) == INTAKE_LIMIT_DAYS
    assert CAL.is_working_day(deadline)


@PROPERTY
@given(n=st.integers(min_value=0, max_value=1000))
def test_warning_margin_is_at_least_one_and_a_fifth_of_the_limit(n: int) -> None:
    m = warning_margin(n)
    assert m == max(1, n // 5)


# --------------------------------------------------------------------------- #
# Concrete examples
# --------------------------------------------------------------------------- #


def test_warning_margin_for_twenty_days_is_four_so_warning_starts_on_day_seventeen() -> None:
    assert warning_margin(20) == 4
    start = date(2026, 3, 2)  # Monday, no holidays in the next four weeks
    assert warning_date(CAL, start, 20) == CAL.add_working_days(start, 17)
    assert warning_date(CAL, start, 20) == date(2026, 3, 25)
    assert due_date(CAL, start, 20) == date(2026, 3, 30)


def test_a_one_day_limit_warns_on_its_due_day() -> None:
    assert warning_margin(1) == 1
    start = date(2026, 2, 13)
    assert warning_date(CAL, start, 1) == due_date(CAL, start, 1) == date(2026, 2, 14)


def test_warning_margin_share_is_configurable_and_exact_for_decimal_shares() -> None:
    assert warning_margin(20, share=0.5) == 10
    assert warning_margin(100, share=0.29) == 29
    assert warning_margin(3, share=0.1) == 1
    with pytest.raises(ValueError):
        warning_margin(10, share=1.5)
    with pytest.raises(ValueError):
        warning_margin(-1)


def test_explicit_margin_overrides_the_default() -> None:
    start = date(2026, 3, 2)
    assert warning_date(CAL, start, 20, margin=1) == due_date(CAL, start, 20)
    with pytest.raises(ValueError):
        warning_date(CAL, start, 20, margin=0)
    with pytest.raises(ValueError):
        warning_date(CAL, start, 0)


def test_warning_from_is_midnight_shanghai_of_the_warning_date() -> None:
    start = date(2026, 3, 2)
    assert warning_from(CAL, start, 20) == datetime(2026, 3, 25, tzinfo=SHANGHAI)


def test_due_date_across_spring_festival_2026() -> None:
    # Accepted Thu 2026-02-12, 5-day promise: Feb 13, Feb 14 (make-up), Feb 24, 25, 26.
    assert due_date(CAL, date(2026, 2, 12), 5) == date(2026, 2, 26)
    assert overdue_from(date(2026, 2, 26)) == datetime(2026, 2, 27, tzinfo=SHANGHAI)


def test_suspension_over_national_day_pushes_by_working_days_only() -> None:
    # Suspended Wed 2026-09-30, resumed Sat 2026-10-10 (make-up day): Oct 8, 9, 10.
    assert pause_days(CAL, date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert shift_due(CAL, date(2026, 10, 12), 3) == date(2026, 10, 15)
    assert pause_days(CAL, date(2026, 10, 10), date(2026, 9, 30)) == 0


def test_extension_of_ten_days_on_a_twenty_day_decision() -> None:
    due = due_date(CAL, date(2026, 3, 2), 20)
    assert shift_due(CAL, due, 10) == due_date(CAL, date(2026, 3, 2), 30)
    assert shift_due(CAL, due, 0) == due
    with pytest.raises(ValueError):
        shift_due(CAL, due, -1)


def test_intake_deadline_example() -> None:
    # Submitted Fri 2026-09-25 (Mid-Autumn, a holiday): Sep 28, 29, 30, Oct 8, 9.
    assert intake_deadline(CAL, date(2026, 9, 25)) == date(2026, 10, 9)


def test_local_date_uses_shanghai_time() -> None:
    late_utc = datetime(2026, 2, 13, 17, 30, tzinfo=UTC)  # 01:30 on the 14th in Shanghai
    assert local_date(late_utc) == date(2026, 2, 14)
    assert local_date(datetime(2026, 2, 13, 15, 59, tzinfo=UTC)) == date(2026, 2, 13)


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 2, 13, 10, 0)
    with pytest.raises(ValueError):
        local_date(naive)
    with pytest.raises(ValueError):
        is_overdue(date(2026, 2, 13), naive)
    with pytest.raises(ValueError):
        is_backdated(CAL, naive, _at(date(2026, 2, 13)))


def test_start_of_day_is_aware_midnight_in_shanghai() -> None:
    midnight = start_of_day(date(2026, 10, 1))
    assert midnight.tzinfo is SHANGHAI
    assert midnight.utcoffset() == timedelta(hours=8)
    assert midnight.astimezone(UTC) == datetime(2026, 9, 30, 16, tzinfo=UTC)


def test_record_made_after_the_weekend_for_a_friday_event_is_not_backdated() -> None:
    # Friday 2026-03-06 event, entered Monday 2026-03-09: the next working day.
    assert not is_backdated(CAL, _at(date(2026, 3, 6), 17), _at(date(2026, 3, 9), 9))
    # Entered Tuesday: two working days later.
    assert is_backdated(CAL, _at(date(2026, 3, 6), 17), _at(date(2026, 3, 10), 9))


def test_record_entered_before_it_happened_is_not_backdated() -> None:
    assert not is_backdated(CAL, _at(date(2026, 3, 10)), _at(date(2026, 3, 2)))


def test_backdating_compares_shanghai_dates_not_utc_dates() -> None:
    # 2026-03-09 23:30 Shanghai is 15:30 UTC; recorded Wed 2026-03-11 00:30 Shanghai
    # (16:30 UTC on the 10th): two Shanghai working days later -> back-dated.
    at = datetime(2026, 3, 9, 15, 30, tzinfo=UTC)
    recorded = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)
    assert is_backdated(CAL, at, recorded)


def test_as_of_a_date_means_the_end_of_that_day_in_shanghai() -> None:
    end = clock.parse_as_of("2026-11-04")
    assert end.isoformat() == "2026-11-04T23:59:59.999999+08:00"
    assert clock.parse_as_of("2026-11-04 12:00").isoformat() == "2026-11-04T12:00:00+08:00"
    assert clock.parse_as_of("2026-11-04T04:00:00+00:00").utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="'yesterday'"):
        clock.parse_as_of("yesterday")
