"""Changes to log groups through the CloudWatch Logs API: creating, deleting, retention.

A group is created in the request's account (iam/tenancy.py); names are unique across the
install for now, so another account's name is refused as an existing group's is.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from iam.models import default_account_id
from iam.tenancy import current_account
from metrics_app.cloudwatch_logs.errors import InvalidParameter, ResourceAlreadyExists
from metrics_app.models import LogGroup

# The retention periods CloudWatch Logs accepts, in days.
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def log_group_create(*, name: str) -> LogGroup:
    try:
        with transaction.atomic():
            return LogGroup.objects.create(name=name, account_id=current_account() or default_account_id())
    except IntegrityError:
        raise ResourceAlreadyExists("The specified log group already exists") from None


def log_group_delete(*, group: LogGroup) -> None:
    """Delete a group with its streams and events (a function's next log line starts it afresh)."""
    group.delete()


def log_group_retention_set(*, group: LogGroup, days: int | None) -> None:
    """Keep ``group``'s events ``days`` days (``None``: the deployment's default), from the next
    retention pass of the metrics consumer on."""
    if days is not None and days not in RETENTION_DAYS:
        raise InvalidParameter(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]"
        )
    LogGroup.objects.filter(pk=group.pk).update(retention_days=days)
