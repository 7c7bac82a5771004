"""EventBridge schedule expressions: parsing rate, cron and at, and when each fires next."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from functions_app.triggers.schedule_expressions import (
    Cron,
    Rate,
    ScheduleExpressionError,
    schedule_describe,
    schedule_next_fire,
    schedule_parse,
)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _next(expression: str, after: datetime, *, timezone: str = "UTC") -> datetime | None:
    return schedule_next_fire(schedule_parse(expression, timezone=timezone), after)


def _firings(expression: str, after: datetime, count: int, *, timezone: str = "UTC") -> list[datetime]:
    schedule = schedule_parse(expression, timezone=timezone)
    firings = []
    for _ in range(count):
        after = schedule_next_fire(schedule, after)
        firings.append(after)
    return firings


@pytest.mark.parametrize(
    ("expression", "value", "unit"),
    [
        ("rate(1 minute)", 1, "minute"),
        ("rate(5 minutes)", 5, "minute"),
        ("rate(1 hour)", 1, "hour"),
        ("rate(12 hours)", 12, "hour"),
        ("rate(1 day)", 1, "day"),
        ("rate(7 days)", 7, "day"),
    ],
)
def test_it_accepts_rate_with_singular_for_one_and_plural_otherwise(expression, value, unit):
    schedule = schedule_parse(expression)
    assert schedule.kind == "rate"
    assert schedule.rule == Rate(value=value, unit=unit)


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("rate(1 minutes)", "'minute'"),
        ("rate(5 minute)", "'minutes'"),
        ("rate(2 hour)", "'hours'"),
        ("rate(1 days)", "'day'"),
        ("rate(0 minutes)", "positive whole number"),
        ("rate(-5 minutes)", "positive whole number"),
        ("rate(five minutes)", "positive whole number"),
        ("rate(5 weeks)", "'weeks'"),
        ("rate(5)", "rate(value unit)"),
        ("every(5 minutes)", "rate(...), cron(...) or at(...)"),
    ],
)
def test_it_rejects_rate_with_wrong_number_agreement_or_value(expression, complaint):
    with pytest.raises(ScheduleExpressionError) as raised:
        schedule_parse(expression)
    assert complaint in str(raised.value)


def test_it_anchors_rate_on_the_epoch_by_default():
    schedule = schedule_parse("rate(5 minutes)")
    assert schedule_next_fire(schedule, _utc(2024, 3, 10, 12, 3, 20)) == _utc(2024, 3, 10, 12, 5)
    # Strictly after: a firing time itself is not the next firing.
    assert schedule_next_fire(schedule, _utc(2024, 3, 10, 12, 5)) == _utc(2024, 3, 10, 12, 10)
    assert schedule_next_fire(schedule_parse("rate(1 day)"), _utc(2024, 3, 10, 23, 59)) == _utc(2024, 3, 11)


def test_it_anchors_rate_on_a_given_instant():
    schedule = schedule_parse("rate(1 hour)")
    anchor = _utc(2024, 1, 1, 0, 2, 30)
    assert schedule_next_fire(schedule, _utc(2024, 1, 1, 5, 0), anchor=anchor) == _utc(2024, 1, 1, 5, 2, 30)
    assert schedule_next_fire(schedule, _utc(2024, 1, 1, 5, 2, 30), anchor=anchor) == _utc(
        2024, 1, 1, 6, 2, 30
    )


def test_it_fires_rate_one_period_after_the_anchor_at_the_earliest():
    schedule = schedule_parse("rate(10 minutes)")
    anchor = _utc(2024, 1, 1, 12, 0)
    assert schedule_next_fire(schedule, anchor, anchor=anchor) == _utc(2024, 1, 1, 12, 10)
    assert schedule_next_fire(schedule, _utc(2023, 12, 31), anchor=anchor) == _utc(2024, 1, 1, 12, 10)


def test_it_returns_utc_whatever_zone_after_is_in():
    schedule = schedule_parse("rate(5 minutes)")
    fire = schedule_next_fire(schedule, datetime(2024, 7, 1, 12, 1, tzinfo=ZoneInfo("Europe/Paris")))
    assert fire == _utc(2024, 7, 1, 10, 5)
    assert fire.tzinfo is UTC


def test_it_refuses_a_naive_after():
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule_next_fire(schedule_parse("rate(1 hour)"), datetime(2024, 1, 1))


@pytest.mark.parametrize("minutes", ["0/15", "*/15", "0,15,30,45"])
def test_it_fires_cron_every_15_minutes(minutes):
    expression = f"cron({minutes} * * * ? *)"
    assert _firings(expression, _utc(2024, 5, 1, 10, 7), 4) == [
        _utc(2024, 5, 1, 10, 15),
        _utc(2024, 5, 1, 10, 30),
        _utc(2024, 5, 1, 10, 45),
        _utc(2024, 5, 1, 11, 0),
    ]


def test_it_fires_cron_on_a_stepped_range():
    assert _firings("cron(10-40/10 8 * * ? *)", _utc(2024, 5, 1), 5) == [
        _utc(2024, 5, 1, 8, 10),
        _utc(2024, 5, 1, 8, 20),
        _utc(2024, 5, 1, 8, 30),
        _utc(2024, 5, 1, 8, 40),
        _utc(2024, 5, 2, 8, 10),
    ]


def test_it_fires_cron_daily_at_noon():
    assert _next("cron(0 12 * * ? *)", _utc(2024, 5, 1, 11, 59, 59)) == _utc(2024, 5, 1, 12)
    assert _next("cron(0 12 * * ? *)", _utc(2024, 5, 1, 12)) == _utc(2024, 5, 2, 12)
    assert _next("cron(0 12 * * ? *)", _utc(2024, 12, 31, 13)) == _utc(2025, 1, 1, 12)


def test_it_fires_cron_on_weekdays_only():
    # 2024-05-03 is a Friday: the next run after its 09:00 is Monday's.
    assert _firings("cron(0 9 ? * MON-FRI *)", _utc(2024, 5, 2, 9), 3) == [
        _utc(2024, 5, 3, 9),
        _utc(2024, 5, 6, 9),
        _utc(2024, 5, 7, 9),
    ]
    assert _next("cron(0 9 ? * 2-6 *)", _utc(2024, 5, 3, 9)) == _utc(2024, 5, 6, 9)
    assert _next("cron(0 9 ? * SUN *)", _utc(2024, 5, 3, 9)) == _utc(2024, 5, 5, 9)


def test_it_fires_cron_on_the_last_day_of_the_month():
    assert _firings("cron(0 0 L * ? *)", _utc(2024, 1, 31, 0, 0), 3) == [
        _utc(2024, 2, 29),
        _utc(2024, 3, 31),
        _utc(2024, 4, 30),
    ]
    assert _next("cron(0 0 L * ? *)", _utc(2023, 2, 10)) == _utc(2023, 2, 28)


def test_it_fires_cron_on_the_third_friday():
    assert _firings("cron(0 10 ? * 6#3 *)", _utc(2024, 5, 1), 2) == [
        _utc(2024, 5, 17, 10),
        _utc(2024, 6, 21, 10),
    ]
    assert _next("cron(0 10 ? * FRI#3 *)", _utc(2024, 5, 1)) == _utc(2024, 5, 17, 10)


def test_it_skips_months_without_a_fifth_friday():
    assert _firings("cron(0 10 ? * 6#5 *)", _utc(2024, 5, 1), 2) == [
        _utc(2024, 5, 31, 10),
        _utc(2024, 8, 30, 10),
    ]


def test_it_fires_cron_on_the_last_friday():
    assert _firings("cron(0 10 ? * 6L *)", _utc(2024, 5, 1), 2) == [
        _utc(2024, 5, 31, 10),
        _utc(2024, 6, 28, 10),
    ]


def test_it_fires_cron_on_the_weekday_nearest_the_15th():
    # 2024-06-15 is a Saturday (Friday the 14th fires), 2024-09-15 a Sunday (Monday the 16th fires).
    assert _next("cron(0 0 15W * ? *)", _utc(2024, 6, 1)) == _utc(2024, 6, 14)
    assert _next("cron(0 0 15W * ? *)", _utc(2024, 9, 1)) == _utc(2024, 9, 16)
    assert _next("cron(0 0 15W * ? *)", _utc(2024, 5, 1)) == _utc(2024, 5, 15)


def test_it_keeps_the_nearest_weekday_inside_the_month():
    # 2024-06-01 is a Saturday: Friday would be in May, so Monday the 3rd fires.
    assert _next("cron(0 0 1W * ? *)", _utc(2024, 5, 31, 1)) == _utc(2024, 6, 3)


def test_it_fires_cron_on_the_last_weekday_of_the_month():
    # 2024-08-31 is a Saturday and 2024-03-31 a Sunday: both months end on Friday's firing.
    assert _next("cron(0 0 LW * ? *)", _utc(2024, 8, 1)) == _utc(2024, 8, 30)
    assert _next("cron(0 0 LW * ? *)", _utc(2024, 3, 1)) == _utc(2024, 3, 29)
    assert _next("cron(0 0 LW * ? *)", _utc(2024, 4, 1)) == _utc(2024, 4, 30)


def test_it_reads_month_names_and_day_of_month_lists():
    assert _firings("cron(0 6 1,15 JAN-MAR ? *)", _utc(2024, 3, 2), 2) == [
        _utc(2024, 3, 15, 6),
        _utc(2025, 1, 1, 6),
    ]


def test_it_stops_at_the_last_listed_year():
    assert _next("cron(0 0 1 1 ? 2025-2026)", _utc(2025, 6, 1)) == _utc(2026, 1, 1)
    assert _next("cron(0 0 1 1 ? 2025-2026)", _utc(2026, 1, 1)) is None
    assert _next("cron(0 0 1 1 ? 2030)", _utc(2024, 1, 1)) == _utc(2030, 1, 1)


def test_it_gives_up_after_2199():
    assert _next("cron(59 23 31 12 ? *)", _utc(2199, 12, 31, 23, 58)) == _utc(2199, 12, 31, 23, 59)
    assert _next("cron(* * * * ? *)", _utc(2199, 12, 31, 23, 59)) is None


def test_it_returns_none_quickly_for_a_date_that_never_exists():
    started = time.monotonic()
    assert _next("cron(0 0 31 2 ? *)", _utc(2024, 1, 1)) is None
    assert _next("cron(0 0 30 FEB ? *)", _utc(2024, 1, 1)) is None
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("year", ["1969", "2200", "1960-1980"])
def test_it_rejects_years_outside_1970_to_2199(year):
    with pytest.raises(ScheduleExpressionError, match="cron year field .* outside 1970-2199"):
        schedule_parse(f"cron(0 0 1 1 ? {year})")


@pytest.mark.parametrize("days", ["? ?", "1 MON", "* *", "L 6L"])
def test_it_requires_exactly_one_question_mark_in_the_day_fields(days):
    with pytest.raises(
        ScheduleExpressionError, match="exactly one of day-of-month and day-of-week must be '\\?'"
    ):
        schedule_parse(f"cron(0 0 {days.split()[0]} * {days.split()[1]} *)")


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("cron(60 0 * * ? *)", "cron minutes field '60' is not valid: 60 is outside 0-59"),
        ("cron(0 24 * * ? *)", "cron hours field '24' is not valid: 24 is outside 0-23"),
        ("cron(0 0 0 * ? *)", "cron day-of-month field '0' is not valid: 0 is outside 1-31"),
        ("cron(0 0 32 * ? *)", "32 is outside 1-31"),
        ("cron(0 0 32W * ? *)", "32 is outside 1-31"),
        ("cron(0 0 1 13 ? *)", "cron month field '13' is not valid: 13 is outside 1-12"),
        ("cron(0 0 1 JANUARY ? *)", "'JANUARY' is not a number or a name"),
        ("cron(0 0 ? * 8 *)", "cron day-of-week field '8' is not valid: 8 is outside 1-7"),
        ("cron(0 0 ? * 0 *)", "0 is outside 1-7"),
        ("cron(0 0 ? * 6#6 *)", "the number after # must be 1 to 5"),
        ("cron(0 0 ? * */2 *)", "'/' is not allowed here"),
        ("cron(40-10 * * * ? *)", "the range 40-10 runs backwards"),
        ("cron(0/0 * * * ? *)", "the increment must be a number from 1 to 60"),
        ("cron(0 0 1,,2 * ? *)", "a list item is empty"),
        ("cron(? 0 1 * ? *)", "'?' is only allowed in day-of-month or day-of-week"),
        ("cron(0 0 L,15 * ? *)", "L and W stand alone"),
        ("cron(0 0 ? * 2L,3 *)", "L and # stand alone"),
        ("cron(0 12 * * ?)", "it needs 6 fields"),
        ("cron(0 12 * * ? * *)", "got 7"),
    ],
)
def test_it_rejects_bad_cron_fields_naming_the_field(expression, complaint):
    with pytest.raises(ScheduleExpressionError) as raised:
        schedule_parse(expression)
    assert complaint in str(raised.value)


def test_it_evaluates_cron_in_the_schedule_time_zone():
    # 09:00 in Paris is 07:00 UTC in summer and 08:00 UTC in winter.
    assert _next("cron(0 9 ? * MON-FRI *)", _utc(2024, 7, 1), timezone="Europe/Paris") == _utc(2024, 7, 1, 7)
    assert _next("cron(0 9 ? * MON-FRI *)", _utc(2024, 12, 2), timezone="Europe/Paris") == _utc(
        2024, 12, 2, 8
    )


def test_it_skips_a_local_time_that_spring_forward_removes():
    # On 2024-03-10 New York clocks jump from 02:00 EST to 03:00 EDT: 02:00 never happens that day.
    assert _firings("cron(0 2 * * ? *)", _utc(2024, 3, 9, 12), 2, timezone="America/New_York") == [
        _utc(2024, 3, 11, 6),
        _utc(2024, 3, 12, 6),
    ]
    assert _next("cron(0 2 * * ? *)", _utc(2024, 3, 8, 12), timezone="America/New_York") == _utc(
        2024, 3, 9, 7
    )


def test_it_fires_once_for_a_local_time_that_fall_back_repeats():
    # On 2024-11-03 New York clocks go from 02:00 EDT back to 01:00 EST: 01:30 happens twice.
    assert _firings("cron(30 1 * * ? *)", _utc(2024, 11, 3, 4), 2, timezone="America/New_York") == [
        _utc(2024, 11, 3, 5, 30),  # 01:30 EDT
        _utc(2024, 11, 4, 6, 30),  # 01:30 EST the next day, not the repeat an hour after the first
    ]
    # Asked from inside the repeated hour, the first 01:30 has passed and the repeat does not fire.
    assert _next("cron(30 1 * * ? *)", _utc(2024, 11, 3, 6, 0), timezone="America/New_York") == _utc(
        2024, 11, 4, 6, 30
    )


def test_it_fires_at_once_in_the_schedule_time_zone():
    schedule = schedule_parse("at(2030-01-15T09:30:00)", timezone="America/New_York")
    assert schedule.kind == "at"
    assert schedule_next_fire(schedule, _utc(2029, 1, 1)) == _utc(2030, 1, 15, 14, 30)
    assert schedule_next_fire(schedule_parse("at(2030-01-15T09:30:00)"), _utc(2029, 1, 1)) == _utc(
        2030, 1, 15, 9, 30
    )


def test_it_returns_none_for_at_in_the_past():
    schedule = schedule_parse("at(2020-06-01T12:00:00)")
    assert schedule_next_fire(schedule, _utc(2024, 1, 1)) is None
    assert schedule_next_fire(schedule, _utc(2020, 6, 1, 12)) is None
    assert schedule_next_fire(schedule, _utc(2020, 6, 1, 11, 59, 59)) == _utc(2020, 6, 1, 12)


@pytest.mark.parametrize(
    "moment", ["2024-02-30T12:00:00", "2024-01-01 12:00:00", "2024-01-01T12:00", "tomorrow"]
)
def test_it_rejects_at_without_a_real_date_and_time(moment):
    with pytest.raises(ScheduleExpressionError, match="yyyy-mm-ddThh:mm:ss"):
        schedule_parse(f"at({moment})")


def test_it_rejects_at_a_local_time_that_does_not_exist():
    with pytest.raises(ScheduleExpressionError, match="does not exist in America/New_York"):
        schedule_parse("at(2024-03-10T02:30:00)", timezone="America/New_York")
    assert schedule_parse("at(2024-03-10T02:30:00)").rule.instant == _utc(2024, 3, 10, 2, 30)


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "", "../etc/passwd", "/etc/localtime", "EST5EDT!"])
def test_it_rejects_an_unknown_time_zone(timezone):
    with pytest.raises(ScheduleExpressionError, match="Time zone .* is not valid"):
        schedule_parse("rate(5 minutes)", timezone=timezone)


def test_it_keeps_the_parsed_cron_fields():
    schedule = schedule_parse("  cron(0/20 9-17 ? * MON-FRI *)  ", timezone="Europe/Paris")
    assert schedule.expression == "cron(0/20 9-17 ? * MON-FRI *)"
    assert schedule.timezone == "Europe/Paris"
    assert isinstance(schedule.rule, Cron)
    assert schedule.rule.minutes == (0, 20, 40)
    assert schedule.rule.hours == tuple(range(9, 18))
    assert schedule.rule.day_of_month is None
    assert schedule.rule.day_of_week.weekdays == frozenset({2, 3, 4, 5, 6})


def test_it_describes_schedules_in_a_short_phrase():
    assert schedule_describe(schedule_parse("rate(1 minute)")) == "every minute"
    assert schedule_describe(schedule_parse("rate(5 minutes)")) == "every 5 minutes"
    assert schedule_describe(schedule_parse("rate(2 days)")) == "every 2 days"
    assert schedule_describe(schedule_parse("cron(0 12 * * ? *)")) == "cron 0 12 * * ? * (UTC)"
    assert (
        schedule_describe(schedule_parse("at(2030-01-15T09:30:00)", timezone="Asia/Tokyo"))
        == "once at 2030-01-15 09:30:00 (Asia/Tokyo)"
    )
