"""Amazon EventBridge schedule expressions: rate(...), cron(...) and at(...).

`schedule_parse` turns an expression and an IANA time zone into a `Schedule`, raising
`ScheduleExpressionError` with a message that names the offending field. `schedule_next_fire`
answers the only question a scheduler asks: when does this fire next, strictly after a given
instant. Cron and at expressions are read as wall-clock times in the schedule's zone, the way
EventBridge Scheduler reads them: a local time that daylight saving skips does not fire, and a
local time that happens twice fires once, at its first occurrence.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR_MIN, YEAR_MAX = 1970, 2199

_RATE_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_MONTH_NAMES = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
_DAY_NAMES = {
    name: number for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)
}
_CRON_FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")


class ScheduleExpressionError(ValueError):
    """The schedule expression or its time zone is not valid; the message says which part and why."""


@dataclass(frozen=True)
class Rate:
    value: int
    unit: str  # singular: "minute", "hour" or "day"

    @property
    def period(self) -> timedelta:
        return self.value * _RATE_UNITS[self.unit]


@dataclass(frozen=True)
class DayOfMonth:
    days: frozenset[int] = frozenset()
    last: bool = False  # L
    last_weekday: bool = False  # LW
    nearest_weekday_to: int | None = None  # 15W


@dataclass(frozen=True)
class DayOfWeek:
    weekdays: frozenset[int] = frozenset()  # 1 = Sunday ... 7 = Saturday, as in AWS
    last_of: int | None = None  # 6L: the last Friday of the month
    nth: tuple[int, int] | None = None  # 6#3: (Friday, third)


@dataclass(frozen=True)
class Cron:
    fields: tuple[str, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_of_month: DayOfMonth | None  # None where the field is "?"
    months: tuple[int, ...]
    day_of_week: DayOfWeek | None
    years: tuple[int, ...]


@dataclass(frozen=True)
class At:
    local: datetime  # naive, in the schedule's time zone
    instant: datetime  # the same moment in UTC


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule expression; `rule` holds the kind-specific part."""

    expression: str
    timezone: str
    rule: Rate | Cron | At

    @property
    def kind(self) -> str:
        return type(self.rule).__name__.lower()


def schedule_parse(expression: str, *, timezone: str = "UTC") -> Schedule:
    """Parse an EventBridge schedule expression, or raise ScheduleExpressionError saying what is wrong."""
    zone = _zone(timezone)
    text = expression.strip()
    match = re.fullmatch(r"(rate|cron|at)\((.*)\)", text, flags=re.DOTALL)
    if match is None:
        raise ScheduleExpressionError(
            f"Schedule expression {expression!r} is not valid: expected rate(...), cron(...) or at(...)."
        )
    kind, body = match.groups()
    rule: Rate | Cron | At
    if kind == "rate":
        rule = _rate_parse(body)
    elif kind == "cron":
        rule = _cron_parse(body)
    else:
        rule = _at_parse(body, zone)
    return Schedule(expression=text, timezone=timezone, rule=rule)


def schedule_next_fire(
    schedule: Schedule, after: datetime, *, anchor: datetime | None = None
) -> datetime | None:
    """The first firing strictly after `after`, in UTC, or None if the schedule never fires again.

    Rate schedules fire at `anchor + k * period` for k >= 1; the anchor defaults to the Unix epoch,
    so rate(5 minutes) fires on the multiples of five minutes.
    """
    _require_aware(after, "after")
    rule = schedule.rule
    if isinstance(rule, Rate):
        anchor = EPOCH if anchor is None else anchor
        _require_aware(anchor, "anchor")
        periods = max((after - anchor) // rule.period + 1, 1)
        return (anchor + periods * rule.period).astimezone(UTC)
    if isinstance(rule, At):
        return rule.instant if rule.instant > after else None
    return _cron_next_fire(rule, ZoneInfo(schedule.timezone), after)


def schedule_describe(schedule: Schedule) -> str:
    """A short phrase for the dashboard, such as "every 5 minutes"."""
    rule = schedule.rule
    if isinstance(rule, Rate):
        return f"every {rule.unit}" if rule.value == 1 else f"every {rule.value} {rule.unit}s"
    if isinstance(rule, At):
        return f"once at {rule.local:%Y-%m-%d %H:%M:%S} ({schedule.timezone})"
    return f"cron {' '.join(rule.fields)} ({schedule.timezone})"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleExpressionError(
            f"Time zone {name!r} is not valid: use an IANA name such as 'UTC' or 'America/New_York'."
        ) from None


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")


def _expression_error(kind: str, body: str, reason: str) -> ScheduleExpressionError:
    return ScheduleExpressionError(f"{kind}({body}) is not valid: {reason}.")


def _rate_parse(body: str) -> Rate:
    parts = body.split()
    if len(parts) != 2:
        raise _expression_error("rate", body, "expected rate(value unit), e.g. rate(5 minutes)")
    value_text, unit = parts
    if not value_text.isdigit() or int(value_text) < 1:
        raise _expression_error("rate", body, "the value must be a positive whole number")
    value = int(value_text)
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        raise _expression_error("rate", body, f"the unit must be minute(s), hour(s) or day(s), not {unit!r}")
    # AWS insists on English agreement: rate(1 minute) and rate(5 minutes), never the other way round.
    expected = singular if value == 1 else singular + "s"
    if unit != expected:
        raise _expression_error("rate", body, f"with a value of {value} write {expected!r}")
    return Rate(value=value, unit=singular)


def _at_parse(body: str, zone: ZoneInfo) -> At:
    text = body.strip()
    shape_error = _expression_error("at", body, "expected a real date and time as yyyy-mm-ddThh:mm:ss")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", text):
        raise shape_error
    try:
        local = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise shape_error from None
    instant = _local_to_utc(local, zone)
    if instant is None:
        # A cron schedule simply skips such a time; a one-time schedule would silently never fire.
        raise _expression_error("at", body, f"{text} does not exist in {zone.key}, daylight saving skips it")
    return At(local=local, instant=instant)


def _cron_parse(body: str) -> Cron:
    fields = tuple(body.split())
    if len(fields) != 6:
        reason = f"it needs 6 fields ({' '.join(_CRON_FIELDS)}), got {len(fields)}"
        raise _expression_error("cron", body, reason)
    minutes_text, hours_text, dom_text, month_text, dow_text, year_text = fields
    if (dom_text == "?") == (dow_text == "?"):
        raise _expression_error("cron", body, "exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        fields=fields,
        minutes=_field_values(minutes_text, "minutes", 0, 59),
        hours=_field_values(hours_text, "hours", 0, 23),
        day_of_month=None if dom_text == "?" else _day_of_month_parse(dom_text),
        months=_field_values(month_text, "month", 1, 12, names=_MONTH_NAMES),
        day_of_week=None if dow_text == "?" else _day_of_week_parse(dow_text),
        years=_field_values(year_text, "year", YEAR_MIN, YEAR_MAX),
    )


def _field_error(field: str, text: str, reason: str) -> ScheduleExpressionError:
    return ScheduleExpressionError(f"cron {field} field {text!r} is not valid: {reason}.")


def _field_number(token: str, field: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    if names and token.upper() in names:
        return names[token.upper()]
    if token == "?":
        raise _field_error(field, token, "'?' is only allowed in day-of-month or day-of-week")
    if not token.isdigit():
        reason = f"{token!r} is not a number" + (" or a name" if names else "")
        raise _field_error(field, token, reason)
    number = int(token)
    if not low <= number <= high:
        raise _field_error(field, token, f"{number} is outside {low}-{high}")
    return number


def _field_values(
    text: str, field: str, low: int, high: int, *, names: dict[str, int] | None = None, steps: bool = True
) -> tuple[int, ...]:
    """The values a plain field (`,` `-` `*` and, where allowed, `/`) selects, in order."""
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not steps:
                raise _field_error(field, text, "'/' is not allowed here")
            if not step_text.isdigit() or not 1 <= int(step_text) <= high - low + 1:
                raise _field_error(field, text, f"the increment must be a number from 1 to {high - low + 1}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _field_number(first, field, low, high, names)
            end = _field_number(last, field, low, high, names)
            if start > end:
                raise _field_error(field, text, f"the range {base} runs backwards")
        elif base:
            start = _field_number(base, field, low, high, names)
            # "0/15" means from 0 onwards; a bare "5" is just 5.
            end = high if slash else start
        else:
            raise _field_error(field, text, "a list item is empty")
        values.update(range(start, end + 1, step))
    return tuple(sorted(values))


def _day_of_month_parse(text: str) -> DayOfMonth:
    upper = text.upper()
    if upper == "L":
        return DayOfMonth(last=True)
    if upper == "LW":
        return DayOfMonth(last_weekday=True)
    if upper.endswith("W"):
        return DayOfMonth(nearest_weekday_to=_field_number(upper[:-1], "day-of-month", 1, 31))
    if "L" in upper or "W" in upper:
        raise _field_error("day-of-month", text, "L and W stand alone, as in L, LW or 15W")
    return DayOfMonth(days=frozenset(_field_values(text, "day-of-month", 1, 31)))


def _day_of_week_parse(text: str) -> DayOfWeek:
    upper = text.upper()
    if upper == "L":
        return DayOfWeek(weekdays=frozenset({7}))  # as in Quartz, a bare L is the last day of the week
    if "#" in upper:
        weekday, _, nth = upper.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise _field_error("day-of-week", text, "the number after # must be 1 to 5")
        return DayOfWeek(nth=(_field_number(weekday, "day-of-week", 1, 7, _DAY_NAMES), int(nth)))
    if upper.endswith("L"):
        return DayOfWeek(last_of=_field_number(upper[:-1], "day-of-week", 1, 7, _DAY_NAMES))
    if "L" in upper:
        raise _field_error("day-of-week", text, "L and # stand alone, as in L, 6L or 6#3")
    return DayOfWeek(
        weekdays=frozenset(_field_values(text, "day-of-week", 1, 7, names=_DAY_NAMES, steps=False))
    )


def _python_weekday(aws_weekday: int) -> int:
    """AWS counts 1 = Sunday; Python counts 0 = Monday."""
    return (aws_weekday - 2) % 7


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    """The weekday closest to `day` without leaving the month, as Quartz's W does."""
    weekday = calendar.weekday(year, month, day)
    if weekday == 5:  # Saturday: Friday before, unless that is last month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, unless that is next month
        return day + 1 if day < length else day - 2
    return day


def _cron_days(cron: Cron, year: int, month: int) -> list[int]:
    """The days of this month that the cron's day-of-month or day-of-week selects, in order."""
    length = calendar.monthrange(year, month)[1]
    dom = cron.day_of_month
    if dom is not None:
        if dom.last:
            return [length]
        if dom.last_weekday:
            return [_nearest_weekday(year, month, length, length)]
        if dom.nearest_weekday_to is not None:
            day = dom.nearest_weekday_to
            return [_nearest_weekday(year, month, day, length)] if day <= length else []
        return [day for day in sorted(dom.days) if day <= length]
    dow = cron.day_of_week
    assert dow is not None  # the parser guarantees exactly one of the two is "?"
    first_weekday = calendar.weekday(year, month, 1)
    if dow.nth is not None:
        weekday, nth = dow.nth
        day = 1 + (_python_weekday(weekday) - first_weekday) % 7 + 7 * (nth - 1)
        return [day] if day <= length else []
    if dow.last_of is not None:
        last_weekday = calendar.weekday(year, month, length)
        return [length - (last_weekday - _python_weekday(dow.last_of)) % 7]
    wanted = {_python_weekday(weekday) for weekday in dow.weekdays}
    return [day for day in range(1, length + 1) if (first_weekday + day - 1) % 7 in wanted]


def _local_to_utc(local: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a naive wall-clock time; the first one if it repeats, None if it is skipped."""
    instant = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return instant


def _cron_next_fire(cron: Cron, zone: ZoneInfo, after: datetime) -> datetime | None:
    # Walk months and their matching days, then the hours and minutes of each day, so a
    # sparse schedule costs a few hundred steps rather than a minute-by-minute scan.
    local_after = after.astimezone(zone)
    start = local_after.date()
    for year in cron.years:
        if year < start.year:
            continue
        for month in cron.months:
            if (year, month) < (start.year, start.month):
                continue
            for day in _cron_days(cron, year, month):
                today = date(year, month, day)
                if today < start:
                    continue
                for hour in cron.hours:
                    if today == start and hour < local_after.hour:
                        continue
                    for minute in cron.minutes:
                        instant = _local_to_utc(datetime(year, month, day, hour, minute), zone)
                        if instant is not None and instant > after:
                            return instant
    return None
