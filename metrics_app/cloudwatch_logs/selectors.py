"""Reading log groups, streams and events, a page at a time.

Pages are cut by keyset — the sort key of the last row a page holds — and fetched one row
long, so a page knows whether another follows without counting. A page of events also stops
at 1 MB of messages, as CloudWatch Logs' do.

Name matching is exact and case-sensitive on every database: a prefix is compared with
``LEFT(name, n) = prefix`` rather than ``LIKE``, which SQLite folds to lower case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Max, Q, QuerySet, Value
from django.db.models.functions import Left, StrIndex

from iam.tenancy import current_account
from metrics_app.cloudwatch_logs.errors import group_not_found, stream_not_found
from metrics_app.cloudwatch_logs.filter_pattern import FilterPattern
from metrics_app.cloudwatch_logs.tokens import StreamPosition
from metrics_app.models import LogEvent, LogGroup, LogStream

Row = TypeVar("Row")

PAGE_BYTES = 1024 * 1024
# What CloudWatch Logs counts for each event on top of its message when it sizes a batch.
_EVENT_OVERHEAD_BYTES = 26


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    more: bool


def _page(rows: Sequence[Row], limit: int) -> Page[Row]:
    return Page(list(rows[:limit]), len(rows) > limit)


def _name_prefixed(queryset: QuerySet, prefix: str) -> QuerySet:
    return queryset.alias(_head=Left("name", len(prefix))).filter(_head=prefix)


def _within_bytes(events: list[LogEvent], *, from_end: bool = False) -> list[LogEvent]:
    """The longest run of ``events`` (from the start, or from the end) that fits in one page."""
    ordered = reversed(events) if from_end else iter(events)
    kept, size = [], 0
    for event in ordered:
        size += len(event.message.encode()) + _EVENT_OVERHEAD_BYTES
        if kept and size > PAGE_BYTES:
            break
        kept.append(event)
    return kept[::-1] if from_end else kept


def _after(timestamp_ms: int, event_id: int) -> Q:
    return Q(timestamp_ms__gt=timestamp_ms) | Q(timestamp_ms=timestamp_ms, id__gt=event_id)


def _before(timestamp_ms: int, event_id: int) -> Q:
    return Q(timestamp_ms__lt=timestamp_ms) | Q(timestamp_ms=timestamp_ms, id__lt=event_id)


# --- Groups and streams --------------------------------------------------------------------------


def log_groups_of_account() -> QuerySet[LogGroup]:
    """The log groups of the request's account (iam.tenancy); every group outside a request."""
    account = current_account()
    return LogGroup.objects.filter(account_id=account) if account else LogGroup.objects.all()


def log_group_get(*, name: str, account: str | None = None) -> LogGroup:
    """The log group ``name`` in ``account``, by default the request's (any outside a request)."""
    account = account or current_account()
    found = LogGroup.objects.filter(name=name)
    group = (found.filter(account_id=account) if account else found).first()
    if group is None:
        raise group_not_found()
    return group


def log_group_list(
    *,
    prefix: str | None = None,
    contains: str | None = None,
    names: list[str] | None = None,
    after_name: str | None = None,
    limit: int,
) -> Page[LogGroup]:
    """The request's account's log groups by name, after ``after_name``: those starting with
    ``prefix``, containing ``contains``, or among ``names``."""
    groups = log_groups_of_account().order_by("name")
    if prefix:
        groups = _name_prefixed(groups, prefix)
    if contains:
        groups = groups.alias(_at=StrIndex("name", Value(contains))).filter(_at__gt=0)
    if names is not None:
        groups = groups.filter(name__in=names)
    if after_name is not None:
        groups = groups.filter(name__gt=after_name)
    return _page(groups[: limit + 1], limit)


def log_stream_get(*, group: LogGroup, name: str) -> LogStream:
    stream = LogStream.objects.filter(group=group, name=name).first()
    if stream is None:
        raise stream_not_found()
    return stream


def log_stream_list(
    *,
    group: LogGroup,
    prefix: str | None = None,
    by_last_event: bool = False,
    descending: bool = False,
    after: str | tuple[int, int] | None = None,
    limit: int,
) -> Page[LogStream]:
    """A group's streams by name or by last event time (then id); ``after`` is the last sort key seen."""
    streams = LogStream.objects.filter(group=group)
    if prefix:
        streams = _name_prefixed(streams, prefix)
    if by_last_event:
        order = ("-last_event_ms", "-id") if descending else ("last_event_ms", "id")
        if after is not None:
            last_event_ms, stream_id = after
            direction = "lt" if descending else "gt"
            streams = streams.filter(
                Q(**{f"last_event_ms__{direction}": last_event_ms})
                | Q(last_event_ms=last_event_ms, **{f"id__{direction}": stream_id})
            )
    else:
        order = ("-name",) if descending else ("name",)
        if after is not None:
            streams = streams.filter(**{"name__lt" if descending else "name__gt": after})
    return _page(streams.order_by(*order)[: limit + 1], limit)


def log_stream_last_ingestion(streams: list[LogStream]) -> dict[int, int]:
    """When each stream last received an event, in epoch milliseconds, by stream id."""
    rows = (
        LogEvent.objects.filter(stream__in=streams)
        .values("stream_id")
        .annotate(last=Max("ingestion_ms"))
        .values_list("stream_id", "last")
    )
    return dict(rows)


# --- Events ------------------------------------------------------------------------------------


def log_stream_events(
    *,
    stream: LogStream,
    start_ms: int | None,
    end_ms: int | None,
    position: StreamPosition | None,
    from_head: bool,
    limit: int,
) -> list[LogEvent]:
    """One page of a stream's events in ``[start_ms, end_ms)``, oldest first.

    From ``position`` onwards in its direction; without one, the first events (``from_head``)
    or the last.
    """
    events = LogEvent.objects.filter(stream=stream)
    if start_ms is not None:
        events = events.filter(timestamp_ms__gte=start_ms)
    if end_ms is not None:
        events = events.filter(timestamp_ms__lt=end_ms)
    forward = position.forward if position is not None else from_head
    if position is not None:
        boundary = _after if forward else _before
        events = events.filter(boundary(position.timestamp_ms, position.event_id))
    if forward:
        return _within_bytes(list(events.order_by("timestamp_ms", "id")[:limit]))
    newest_first = list(events.order_by("-timestamp_ms", "-id")[:limit])
    return _within_bytes(newest_first[::-1], from_end=True)


def log_group_events_filter(
    *,
    group: LogGroup,
    stream_names: list[str] | None = None,
    stream_prefix: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    pattern: FilterPattern,
    ascending: bool = True,
    after: tuple[int, int] | None = None,
    limit: int,
) -> Page[LogEvent]:
    """A page of a group's events in ``[start_ms, end_ms]`` that ``pattern`` matches, across streams,
    by time (then id) in the direction asked; ``after`` is the last (time, id) seen."""
    events = LogEvent.objects.filter(group=group).filter(pattern.condition()).select_related("stream")
    if stream_names is not None:
        events = events.filter(stream__name__in=stream_names)
    if stream_prefix:
        events = events.filter(
            stream__in=_name_prefixed(LogStream.objects.filter(group=group), stream_prefix)
        )
    if start_ms is not None:
        events = events.filter(timestamp_ms__gte=start_ms)
    if end_ms is not None:
        events = events.filter(timestamp_ms__lte=end_ms)
    if after is not None:
        events = events.filter((_after if ascending else _before)(*after))
    order = ("timestamp_ms", "id") if ascending else ("-timestamp_ms", "-id")
    page = _page(events.order_by(*order)[: limit + 1], limit)
    fitting = _within_bytes(page.rows)
    return Page(fitting, page.more or len(fitting) < len(page.rows))
