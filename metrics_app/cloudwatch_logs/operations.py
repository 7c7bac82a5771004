"""The CloudWatch Logs operations Stratus serves, from request members to response members.

Each takes the request's members (already checked against botocore's model by ``wire``) and
returns the response's; names and units are the API's (times in epoch milliseconds).

A log group belongs to an account (iam/tenancy.py): a name is looked up in the request's
account, an ARN in the account it names, and lists show the request's account's groups. Names
are unique across the install for now, so creating a group whose name another account uses
fails as creating an existing one does (``ResourceAlreadyExistsException``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings

from iam.tenancy import current_account
from metrics_app.cloudwatch_logs import selectors, services
from metrics_app.cloudwatch_logs.errors import InvalidParameter, group_not_found, token_invalid
from metrics_app.cloudwatch_logs.filter_pattern import filter_pattern_parse
from metrics_app.cloudwatch_logs.tokens import StreamPosition, token_decode, token_encode
from metrics_app.models import LogEvent, LogGroup, LogStream

Params = dict[str, Any]

_DESCRIBE_LIMIT = 50
_EVENTS_LIMIT = 10_000
_GROUP_ARN = re.compile(
    r"arn:aws:logs:(?P<region>[a-z0-9-]*):(?P<account>\d{12}):log-group:(?P<name>[^:]+)(:\*)?"
)


def _epoch_ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def group_arn(name: str, *, account: str | None = None) -> str:
    """A log group's ARN in ``account``: by default the request's, else the install's."""
    account = account or current_account() or settings.STRATUS_ACCOUNT_ID
    return f"arn:aws:logs:{settings.STRATUS_REGION}:{account}:log-group:{name}"


def _group_ref(identifier: str) -> tuple[str | None, str] | None:
    """``(account, name)`` of a log group from its name (no account: the request's) or its ARN
    (the form without the trailing ``:*`` too); ``None`` for another region's group."""
    if not identifier.startswith("arn:"):
        return None, identifier
    match = _GROUP_ARN.fullmatch(identifier)
    if not match:
        raise InvalidParameter(f"{identifier!r} is neither a log group name nor a log group ARN.")
    # Another region's group is not one of these, whatever its name.
    return (match["account"], match["name"]) if match["region"] == settings.STRATUS_REGION else None


def _group(params: Params) -> LogGroup:
    name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
    if name and identifier:
        raise InvalidParameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if not (name or identifier):
        raise InvalidParameter("Either logGroupName or logGroupIdentifier must be given.")
    ref = _group_ref(identifier) if identifier else (None, name)
    if ref is None:
        raise group_not_found()
    account, name = ref
    return selectors.log_group_get(name=name, account=account)


# --- Describing ----------------------------------------------------------------------------------


def _group_description(group: LogGroup, *, brief: bool) -> dict[str, Any]:
    arn = group_arn(group.name, account=group.account_id)
    described: dict[str, Any] = {
        "logGroupName": group.name,
        "creationTime": _epoch_ms(group.created_at),
        "arn": f"{arn}:*",
    }
    if brief:  # what AWS answers when asked by logGroupNamePattern
        return described
    if group.retention_days is not None:
        described["retentionInDays"] = group.retention_days
    described.update(metricFilterCount=0, logGroupArn=arn, logGroupClass="STANDARD")
    return described


def describe_log_groups(params: Params) -> Params:
    prefix, contains = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
    if prefix and contains:
        raise InvalidParameter(
            "logGroupNamePrefix and logGroupNamePattern are mutually exclusive parameters."
        )
    identifiers = params.get("logGroupIdentifiers")
    if identifiers and (prefix or contains):
        raise InvalidParameter("logGroupIdentifiers cannot be combined with a name prefix or pattern.")
    after_name = None
    if "nextToken" in params:
        after_name = token_decode("groups", params["nextToken"]).get("name")
        if not isinstance(after_name, str):
            raise token_invalid()
    names = None
    if identifiers:  # only the request's account's groups are listed
        own = current_account()
        refs = [ref for ref in map(_group_ref, identifiers) if ref is not None]
        names = [name for account, name in refs if own is None or account in (None, own)]
    if params.get("logGroupClass", "STANDARD") != "STANDARD":
        names = []  # every Stratus log group is of the STANDARD class
    page = selectors.log_group_list(
        prefix=prefix,
        contains=contains,
        names=names,
        after_name=after_name,
        limit=params.get("limit", _DESCRIBE_LIMIT),
    )
    result: Params = {"logGroups": [_group_description(group, brief=bool(contains)) for group in page.rows]}
    if page.more:
        result["nextToken"] = token_encode("groups", {"name": page.rows[-1].name})
    return result


def _stream_description(group: LogGroup, stream: LogStream, last_ingestion_ms: int | None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "logStreamName": stream.name,
        "creationTime": _epoch_ms(stream.created_at),
        "arn": f"{group_arn(group.name, account=group.account_id)}:log-stream:{stream.name}",
        "storedBytes": 0,  # deprecated by AWS, which also answers 0
    }
    if stream.first_event_ms:
        described["firstEventTimestamp"] = stream.first_event_ms
    if stream.last_event_ms:
        described["lastEventTimestamp"] = stream.last_event_ms
    if last_ingestion_ms is not None:
        described["lastIngestionTime"] = last_ingestion_ms
    return described


def describe_log_streams(params: Params) -> Params:
    group = _group(params)
    order = params.get("orderBy", "LogStreamName")
    descending = params.get("descending", False)
    prefix = params.get("logStreamNamePrefix")
    if order == "LastEventTime" and prefix:
        raise InvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
    after = None
    if "nextToken" in params:
        position = token_decode("streams", params["nextToken"])
        if position.get("order") != order or position.get("descending") != descending:
            raise token_invalid()
        after = position.get("after")
        valid = (
            isinstance(after, list) and len(after) == 2 and all(isinstance(part, int) for part in after)
            if order == "LastEventTime"
            else isinstance(after, str)
        )
        if not valid:
            raise token_invalid()
        after = tuple(after) if order == "LastEventTime" else after
    page = selectors.log_stream_list(
        group=group,
        prefix=prefix,
        by_last_event=order == "LastEventTime",
        descending=descending,
        after=after,
        limit=params.get("limit", _DESCRIBE_LIMIT),
    )
    ingested = selectors.log_stream_last_ingestion(page.rows)
    result: Params = {
        "logStreams": [_stream_description(group, stream, ingested.get(stream.id)) for stream in page.rows]
    }
    if page.more:
        last = page.rows[-1]
        key = [last.last_event_ms, last.id] if order == "LastEventTime" else last.name
        result["nextToken"] = token_encode(
            "streams", {"order": order, "descending": descending, "after": key}
        )
    return result


# --- Reading events --------------------------------------------------------------------------------


def _time_range(params: Params) -> tuple[int | None, int | None]:
    start, end = params.get("startTime"), params.get("endTime")
    if start is not None and end is not None and end < start:
        raise InvalidParameter("endTime must not be earlier than startTime.")
    return start, end


def get_log_events(params: Params) -> Params:
    """One page of one stream; both tokens always come back, and the one passed in comes back
    unchanged when there is nothing further in its direction."""
    group = _group(params)
    stream = selectors.log_stream_get(group=group, name=params["logStreamName"])
    start_ms, end_ms = _time_range(params)
    position = StreamPosition.parse(params["nextToken"]) if "nextToken" in params else None
    events = selectors.log_stream_events(
        stream=stream,
        start_ms=start_ms,
        end_ms=end_ms,
        position=position,
        from_head=params.get("startFromHead", False),
        limit=params.get("limit", _EVENTS_LIMIT),
    )
    if events:
        forward = StreamPosition(True, events[-1].timestamp_ms, events[-1].id)
        backward = StreamPosition(False, events[0].timestamp_ms, events[0].id)
    else:
        here = position or StreamPosition(True, 0, 0)
        forward, backward = (here, here.reversed()) if here.forward else (here.reversed(), here)
    return {
        "events": [
            {"timestamp": event.timestamp_ms, "message": event.message, "ingestionTime": event.ingestion_ms}
            for event in events
        ],
        "nextForwardToken": forward.token(),
        "nextBackwardToken": backward.token(),
    }


def _filtered_event(event: LogEvent) -> dict[str, Any]:
    return {
        "logStreamName": event.stream.name,
        "timestamp": event.timestamp_ms,
        "message": event.message,
        "ingestionTime": event.ingestion_ms,
        "eventId": f"{event.timestamp_ms:020d}{event.id:020d}",
    }


def filter_log_events(params: Params) -> Params:
    group = _group(params)
    stream_names, stream_prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
    if stream_names and stream_prefix:
        raise InvalidParameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    start_ms, end_ms = _time_range(params)
    ascending, after = params.get("startFromHead", True), None
    if "nextToken" in params:  # the token's direction wins over startFromHead, as on AWS
        position = token_decode("events", params["nextToken"])
        ascending, after = position.get("ascending"), position.get("after")
        if not (
            isinstance(ascending, bool)
            and isinstance(after, list)
            and len(after) == 2
            and all(isinstance(part, int) for part in after)
        ):
            raise token_invalid()
    page = selectors.log_group_events_filter(
        group=group,
        stream_names=stream_names,
        stream_prefix=stream_prefix,
        start_ms=start_ms,
        end_ms=end_ms,
        pattern=filter_pattern_parse(params.get("filterPattern", "")),
        ascending=ascending,
        after=tuple(after) if after else None,
        limit=params.get("limit", _EVENTS_LIMIT),
    )
    result: Params = {"events": [_filtered_event(event) for event in page.rows]}
    if page.more:
        last = page.rows[-1]
        result["nextToken"] = token_encode(
            "events", {"ascending": ascending, "after": [last.timestamp_ms, last.id]}
        )
    return result


# --- Changing groups ---------------------------------------------------------------------------------


def create_log_group(params: Params) -> Params:
    services.log_group_create(name=params["logGroupName"])
    return {}


def delete_log_group(params: Params) -> Params:
    services.log_group_delete(group=selectors.log_group_get(name=params["logGroupName"]))
    return {}


def put_retention_policy(params: Params) -> Params:
    group = selectors.log_group_get(name=params["logGroupName"])
    services.log_group_retention_set(group=group, days=params["retentionInDays"])
    return {}


def delete_retention_policy(params: Params) -> Params:
    services.log_group_retention_set(group=selectors.log_group_get(name=params["logGroupName"]), days=None)
    return {}


OPERATIONS: dict[str, Callable[[Params], Params]] = {
    "DescribeLogGroups": describe_log_groups,
    "DescribeLogStreams": describe_log_streams,
    "GetLogEvents": get_log_events,
    "FilterLogEvents": filter_log_events,
    "CreateLogGroup": create_log_group,
    "DeleteLogGroup": delete_log_group,
    "PutRetentionPolicy": put_retention_policy,
    "DeleteRetentionPolicy": delete_retention_policy,
}
