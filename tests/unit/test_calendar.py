"""Working-day calendar (工作日): the published 2026 schedule, arithmetic, overrides."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from domain.calendar import (
    CalendarOverrideError,
    WorkCalendar,
    default_override_path,
    read_overrides,
)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _write(tmp_path: Path, text: str, name: str = "overrides.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- #
# The published 2026 schedule (国务院办公厅关于2026年部分节假日安排的通知)
# --------------------------------------------------------------------------- #


def test_spring_festival_2026_days_are_not_working_days(cal: WorkCalendar) -> None:
    for d in _days(date(2026, 2, 15), date(2026, 2, 23)):
        assert not cal.is_working_day(d), d


def test_make_up_saturdays_around_spring_festival_2026_are_working_days(
    cal: WorkCalendar,
) -> None:
    assert date(2026, 2, 14).weekday() == 5
    assert date(2026, 2, 28).weekday() == 5
    assert cal.is_working_day(date(2026, 2, 14))
    assert cal.is_working_day(date(2026, 2, 28))


def test_national_day_2026_days_are_not_working_days(cal: WorkCalendar) -> None:
    for d in _days(date(2026, 10, 1), date(2026, 10, 7)):
        assert not cal.is_working_day(d), d


def test_make_up_sunday_before_national_day_is_a_working_day(cal: WorkCalendar) -> None:
    assert date(2026, 9, 20).weekday() == 6
    assert cal.is_working_day(date(2026, 9, 20))


def test_make_up_saturday_after_national_day_is_a_working_day(cal: WorkCalendar) -> None:
    assert date(2026, 10, 10).weekday() == 5
    assert cal.is_working_day(date(2026, 10, 10))


def test_new_year_2026_is_off_and_sunday_january_4_is_worked(cal: WorkCalendar) -> None:
    for d in _days(date(2026, 1, 1), date(2026, 1, 3)):
        assert not cal.is_working_day(d), d
    assert date(2026, 1, 4).weekday() == 6
    assert cal.is_working_day(date(2026, 1, 4))
    assert cal.is_working_day(date(2026, 1, 5))


def test_ordinary_weekend_is_not_a_working_day_and_weekday_is(cal: WorkCalendar) -> None:
    assert not cal.is_working_day(date(2026, 3, 7))  # Saturday
    assert not cal.is_working_day(date(2026, 3, 8))  # Sunday
    assert cal.is_working_day(date(2026, 3, 9))  # Monday


# --------------------------------------------------------------------------- #
# Arithmetic across the holidays
# --------------------------------------------------------------------------- #


def test_fifth_working_day_after_february_12_2026_skips_spring_festival(
    cal: WorkCalendar,
) -> None:
    # Fri 13, Sat 14 (make-up), then Tue 24, Wed 25, Thu 26.
    assert cal.add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)
    assert cal.working_days_between(date(2026, 2, 12), date(2026, 2, 26)) == 5


def test_next_working_day_after_the_make_up_saturday_is_after_the_festival(
    cal: WorkCalendar,
) -> None:
    assert cal.next_working_day(date(2026, 2, 14)) == date(2026, 2, 24)
    assert cal.next_working_day(date(2026, 2, 13)) == date(2026, 2, 14)


def test_national_day_week_counts_as_no_working_days(cal: WorkCalendar) -> None:
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 8)) == 1  # only Oct 8
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 7)) == 0
    assert cal.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_ten_working_days_from_september_18_2026_include_the_make_up_sunday(
    cal: WorkCalendar,
) -> None:
    # Sep 20 (Sun, make-up) 21 22 23 24 | 25 is Mid-Autumn | 28 29 30 | Oct 8 9.
    assert cal.add_working_days(date(2026, 9, 18), 10) == date(2026, 10, 9)


def test_counting_across_new_year_2026(cal: WorkCalendar) -> None:
    # Dec 31 (Wed) 2025 -> Jan 4 (Sun, make-up) is the first working day of 2026.
    assert cal.next_working_day(date(2025, 12, 31)) == date(2026, 1, 4)
    assert cal.add_working_days(date(2025, 12, 30), 2) == date(2026, 1, 4)
    assert cal.working_days_between(date(2025, 12, 29), date(2026, 1, 5)) == 4


def test_start_day_does_not_count_even_when_it_is_a_holiday(cal: WorkCalendar) -> None:
    assert cal.add_working_days(date(2026, 10, 3), 1) == date(2026, 10, 8)
    assert cal.working_days_between(date(2026, 10, 3), date(2026, 10, 8)) == 1


def test_zero_days_returns_the_start_and_negative_days_are_refused(cal: WorkCalendar) -> None:
    assert cal.add_working_days(date(2026, 2, 15), 0) == date(2026, 2, 15)
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 2, 15), -1)


def test_counting_backwards_or_on_the_same_day_gives_zero(cal: WorkCalendar) -> None:
    assert cal.working_days_between(date(2026, 3, 9), date(2026, 3, 9)) == 0
    assert cal.working_days_between(date(2026, 3, 10), date(2026, 3, 9)) == 0


def test_multi_year_spans_add_and_count_consistently(cal: WorkCalendar) -> None:
    start = date(2021, 6, 15)
    end = cal.add_working_days(start, 1000)
    assert end.year == 2025
    assert cal.working_days_between(start, end) == 1000
    assert cal.is_working_day(end)


def test_year_sizes_are_plausible(cal: WorkCalendar) -> None:
    for year in range(2020, 2031):
        assert 240 <= cal.working_days_in_year(year) <= 255, year


def test_previous_working_day_skips_back_over_the_festival(cal: WorkCalendar) -> None:
    assert cal.previous_working_day(date(2026, 2, 24)) == date(2026, 2, 14)
    assert cal.previous_working_day(date(2026, 1, 4)) == date(2025, 12, 31)


def test_years_outside_the_package_count_weekdays_only(cal: WorkCalendar) -> None:
    # 2200 is beyond the holidays package: Jan 1 is a working Wednesday.
    assert date(2200, 1, 1).weekday() == 2
    assert cal.is_working_day(date(2200, 1, 1))
    assert not cal.is_working_day(date(2200, 1, 4))  # Saturday
    assert cal.working_days_in_year(2200) == 261
    assert cal.add_working_days(date(2200, 1, 2), 1) == date(2200, 1, 3)


def test_construction_and_a_decade_of_answers_are_fast() -> None:
    begin = time.perf_counter()
    fresh = WorkCalendar.load(default_override_path())
    for year in range(2020, 2031):
        fresh.add_working_days(date(year, 1, 1), 200)
    assert time.perf_counter() - begin < 0.5


def test_concurrent_first_use_of_a_year_gives_one_answer() -> None:
    fresh = WorkCalendar()
    results: list[date] = []

    def work() -> None:
        results.append(fresh.add_working_days(date(2027, 12, 20), 15))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1


def test_datetime_override_keys_are_refused() -> None:
    with pytest.raises(TypeError):
        WorkCalendar({datetime(2026, 1, 1): True})


# --------------------------------------------------------------------------- #
# Overrides
# --------------------------------------------------------------------------- #


def test_holiday_override_removes_a_working_day(cal: WorkCalendar) -> None:
    custom = WorkCalendar({date(2026, 3, 10): False})
    assert cal.is_working_day(date(2026, 3, 10))
    assert not custom.is_working_day(date(2026, 3, 10))
    assert cal.add_working_days(date(2026, 3, 9), 1) == date(2026, 3, 10)
    assert custom.add_working_days(date(2026, 3, 9), 1) == date(2026, 3, 11)
    assert custom.working_days_between(date(2026, 3, 9), date(2026, 3, 13)) == 3


def test_workday_override_adds_a_make_up_saturday(cal: WorkCalendar) -> None:
    custom = WorkCalendar({date(2027, 2, 20): True})  # a Saturday
    assert not cal.is_working_day(date(2027, 2, 20))
    assert custom.is_working_day(date(2027, 2, 20))
    assert custom.next_working_day(date(2027, 2, 19)) == date(2027, 2, 20)


def test_override_wins_over_the_package(cal: WorkCalendar) -> None:
    custom = WorkCalendar({date(2026, 10, 10): False, date(2026, 10, 1): True})
    assert not custom.is_working_day(date(2026, 10, 10))
    assert custom.is_working_day(date(2026, 10, 1))


def test_override_file_rows_change_the_answers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "# 2027 notice (example)\n"
        "\n"
        "date,kind,note\n"
        "2027-02-20,workday,春节调休上班\n"
        '2027-03-10,holiday,"local holiday, test"\n'
        "2027-03-10,holiday,listed twice with the same kind is fine\n",
    )
    custom = WorkCalendar.load(path)
    assert custom.overrides == {date(2027, 2, 20): True, date(2027, 3, 10): False}
    assert custom.is_working_day(date(2027, 2, 20))
    assert not custom.is_working_day(date(2027, 3, 10))


def test_override_file_accepts_byte_order_mark_and_upper_case_kind(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffdate,kind,note\n2027-03-10, Holiday ,x\n".encode())
    assert read_overrides(path) == {date(2027, 3, 10): False}


def test_load_without_a_path_uses_the_package_only(cal: WorkCalendar) -> None:
    assert WorkCalendar.load(None).overrides == {}


def test_shipped_override_file_loads_and_agrees_with_the_package() -> None:
    path = default_override_path()
    assert path.is_file()
    assert path.read_text(encoding="utf-8").count("date,kind,note") >= 1
    shipped = WorkCalendar.load(path)
    package = WorkCalendar()
    for day, working in shipped.overrides.items():
        assert package.is_working_day(day) == working, day
    assert WorkCalendar.default().overrides == shipped.overrides


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", None, "missing header"),
        ("# only a comment\n\n", None, "missing header"),
        ("# comment\n2026-10-01,holiday,x\n", 2, "missing header"),
        ("day,type,comment\n2026-10-01,holiday,x\n", 1, "unknown header"),
        ("date,kind\n2026-10-01,holiday\n", 1, "unknown header"),
        ("date,kind,note\n2026-13-01,holiday,x\n", 2, "bad date"),
        ("date,kind,note\n# c\n01/10/2026,holiday,x\n", 3, "bad date"),
        ("date,kind,note\n20261001,holiday,x\n", 2, "bad date"),
        ("date,kind,note\n2026-10-01,vacation,x\n", 2, "unknown kind"),
        ("date,kind,note\n2026-10-01\n", 2, "expected"),
        (
            "date,kind,note\n2026-10-01,holiday,a\n\n2026-10-01,workday,b\n",
            4,
            "on line 2",
        ),
    ],
)
def test_bad_override_file_error_names_the_file_and_line(
    tmp_path: Path, text: str, line: int | None, reason: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CalendarOverrideError) as info:
        WorkCalendar.load(path)
    message = str(info.value)
    assert str(path) in message
    assert reason in message
    assert info.value.line == line
    if line is not None:
        assert f"line {line}" in message


def test_override_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("date,kind,note\n2026-10-01,holiday,国庆\n".encode("gbk"))
    with pytest.raises(CalendarOverrideError, match=r"line 2: not valid UTF-8"):
        read_overrides(path)


def test_missing_override_file_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "calendar_overrides.csv"
    with pytest.raises(CalendarOverrideError) as info:
        WorkCalendar.load(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)
    assert isinstance(info.value, ValueError)
