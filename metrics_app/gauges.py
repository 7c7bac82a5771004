"""Concurrency gauges, read once a second from the admission leases in Redis."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db.models import Sum

from functions_app.runtime.concurrency import ACCOUNT_KEY, FUNCTION_KEY
from metrics_app.aggregation import ACCOUNT, Batch


def gauges_sample(connection: redis.Redis, batch: Batch, *, now: float | None = None) -> bool:
    """Add one reading of ConcurrentExecutions (per function and account), Unreserved and Claimed.

    Returns False (and adds nothing) when nothing is running and nothing is reserved: an
    idle platform then writes nothing every second, and charts read a missing second as 0.
    """
    from functions_app.models import Function, ProvisionedConcurrencyConfig

    now = now or time.time()
    prefix = FUNCTION_KEY.format(name="")
    keys = [key.decode() for key in connection.scan_iter(match=prefix + "*", count=1000)]
    pipe = connection.pipeline(transaction=False)
    for key in keys:
        pipe.zcount(key, now, "+inf")
    pipe.zcount(ACCOUNT_KEY, now, "+inf")
    counts = pipe.execute()
    unreserved = counts.pop()
    total = 0
    for key, count in zip(keys, counts, strict=True):
        total += count
        if count:
            batch.add_gauge("ConcurrentExecutions", float(count), now, (key[len(prefix) :], "", ""))
    batch.add_gauge("ConcurrentExecutions", float(total), now, ACCOUNT)
    batch.add_gauge("UnreservedConcurrentExecutions", float(unreserved), now, ACCOUNT)
    reserved = Function.objects.aggregate(total=Sum("reserved_concurrency"))["total"] or 0
    provisioned = (
        ProvisionedConcurrencyConfig.objects.filter(function__reserved_concurrency__isnull=True).aggregate(
            total=Sum("requested")
        )["total"]
        or 0
    )
    claimed = min(settings.STRATUS_ACCOUNT_CONCURRENCY, unreserved + reserved + provisioned)
    if total == 0 and claimed == 0:
        batch.minutes.clear()
        batch.seconds.clear()
        return False
    batch.add_gauge("ClaimedAccountConcurrency", float(claimed), now, ACCOUNT)
    return True
