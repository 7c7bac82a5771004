"""Which metrics Stratus produces, their units, and which statistic each is read with."""

from __future__ import annotations

# name -> (unit, the statistic CloudWatch's console uses by default)
METRICS: dict[str, tuple[str, str]] = {
    "Invocations": ("Count", "Sum"),
    "Errors": ("Count", "Sum"),
    "Throttles": ("Count", "Sum"),
    "Duration": ("Milliseconds", "Average"),
    "ConcurrentExecutions": ("Count", "Maximum"),
    "UnreservedConcurrentExecutions": ("Count", "Maximum"),
    "ClaimedAccountConcurrency": ("Count", "Maximum"),
    "ProvisionedConcurrencyInvocations": ("Count", "Sum"),
    "ProvisionedConcurrentExecutions": ("Count", "Maximum"),
    "DeadLetterErrors": ("Count", "Sum"),
    "DestinationDeliveryFailures": ("Count", "Sum"),
    "AsyncEventsReceived": ("Count", "Sum"),
    "AsyncEventAge": ("Milliseconds", "Average"),
    "AsyncEventsDropped": ("Count", "Sum"),
    "IteratorAge": ("Milliseconds", "Maximum"),
    # Stratus's own
    "ColdStarts": ("Count", "Sum"),
    "InitDuration": ("Milliseconds", "Average"),
    "BilledDuration": ("Milliseconds", "Sum"),
    "GBSeconds": ("None", "Sum"),
    # Runs a host could not make (code it could not fetch); not counted as Invocations.
    "PlatformErrors": ("Count", "Sum"),
}

# Metrics whose samples feed a percentile sketch.
DISTRIBUTIONS = frozenset({"Duration", "InitDuration", "AsyncEventAge", "IteratorAge"})

# Metrics whose value for a period is the highest per-second level (gauges).
GAUGES = frozenset(
    {
        "ConcurrentExecutions",
        "UnreservedConcurrentExecutions",
        "ClaimedAccountConcurrency",
        "ProvisionedConcurrentExecutions",
    }
)

# Gauges of the install's one concurrency pool, which every account draws on: kept only
# install-wide (no function has a share of them), and shown install-wide to every account.
POOL_METRICS = frozenset({"UnreservedConcurrentExecutions", "ClaimedAccountConcurrency"})

PERIODS = (60, 300, 3600)
NAMESPACE = "AWS/Lambda"

# AWS's public on-demand price (x86, first tier), so the dashboard can show what a function
# would have cost on Lambda.
PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_REQUEST = 0.0000002
