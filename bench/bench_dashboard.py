"""Dashboard render benchmark: server-side render time with 500 functions and 10M invocations.

    .venv/bin/python bench/bench_dashboard.py

Pages are rendered in-process through Django's test client (server-side time only, no
network or browser). Each is timed at 10 thousand invocation records and again at 10
million, in the same run, and reported against the 200 ms budget and as a 10M / 10k ratio.
"""

from __future__ import annotations

import base64
import io
import random
import statistics
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_metrics import django_data_stack  # noqa: E402

FUNCTIONS = 500
SMALL, BIG = 10_000, 10_000_000
BUDGET_MS = 200.0
RUNS = 9
PAGES = (
    ("Functions list", "/functions/"),
    ("Function page (Code tab)", "/functions/fn-0007/"),
    ("Function page (Invocations tab)", "/functions/fn-0007/?tab=invocations"),
    ("Function page (Monitor tab)", "/functions/fn-0007/?tab=monitor"),
    ("Overview", "/"),
)


def _zip() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", "def handler(event, context):\n    return event\n")
    return base64.b64encode(buffer.getvalue()).decode()


def _functions() -> None:
    from functions_app.models import LATEST, Function, FunctionVersion
    from functions_app.services.execution_role import LAMBDA_TRUST_POLICY
    from functions_app.services.functions import function_create
    from iam.services import account_default, role_create
    from metrics_app.models import MetricPoint

    role = role_create(account=account_default(), name="bench", trust_policy=LAMBDA_TRUST_POLICY)
    first = function_create(fields={"FunctionName": "fn-0000", "Runtime": f"python3.{sys.version_info.minor}",
                                    "Role": role.arn, "Handler": "lambda_function.handler",
                                    "Code": {"ZipFile": _zip()}})
    functions = Function.objects.bulk_create(Function(name=f"fn-{index:04d}") for index in range(1, FUNCTIONS))
    FunctionVersion.objects.bulk_create(
        FunctionVersion(function=function, version=LATEST, number=0, code=first.code, runtime=first.runtime,
                        handler=first.handler, role=first.role, description=f"benchmark function {function.name}")
        for function in functions
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = random.Random(7)
    points = []
    for index in range(FUNCTIONS):
        for minute in range(60):
            at = now - timedelta(minutes=minute)
            count = float(rng.randint(0, 300))
            for metric, value in (("Invocations", count), ("Errors", float(int(count * 0.01)))):
                points.append(MetricPoint(period=60, timestamp=at, metric=metric, function_name=f"fn-{index:04d}",
                                          sum=value, count=1, minimum=value, maximum=value))
    MetricPoint.objects.bulk_create(points, batch_size=5000)


def _records(up_to: int, already: int) -> None:
    """Invocation records ``already+1 … up_to``, generated inside SQLite (no Python per row)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE n(x) AS (SELECT {already + 1} UNION ALL SELECT x + 1 FROM n WHERE x < {up_to})
            INSERT INTO metrics_app_invocationrecord (
                request_id, attempt, redelivery, function_name, version, qualifier, alias, trigger,
                invocation_type, outcome, error_type, cold, provisioned, started_at, ended_at, queue_wait_ms,
                duration_ms, billed_duration_ms, memory_size, max_memory_mb, log_stream, worker,
                request_payload, response_payload, payloads_truncated)
            SELECT printf('req-%010d', x), 1, 0, printf('fn-%04d', x % {FUNCTIONS}), '$LATEST', '', '', 'api',
                'RequestResponse', CASE WHEN x % 97 = 0 THEN 'error' ELSE 'success' END,
                CASE WHEN x % 97 = 0 THEN 'ValueError' ELSE '' END, x % 50 = 0, 0,
                strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', x % 604800)),
                strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', x % 604800)),
                1.5, 12.5, 13, 128, 40, '', 'bench', '{{}}', '{{}}', 0
            FROM n
            """
        )


def _time(client, path: str) -> float:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples)


def main() -> None:
    with django_data_stack():
        from django.contrib.auth import get_user_model
        from django.test import Client

        user = get_user_model().objects.create_superuser("bench", password="bench-password")
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        _functions()
        _records(SMALL, 0)
        small = {name: _time(client, path) for name, path in PAGES}
        started = time.perf_counter()
        _records(BIG, SMALL)
        loaded = time.perf_counter() - started
        big = {name: _time(client, path) for name, path in PAGES}
    print(f"(10M records generated in {loaded:.0f} s)")
    print("| Benchmark | Ratio | Target | Measured in this run |")
    print("| --- | --- | --- | --- |")
    for name, _ in PAGES:
        print(f"| {name}, 500 functions, 10M invocations / 200 ms budget | {big[name] / BUDGET_MS:.2f} | ≤ 1 | "
              f"{big[name]:.1f} ms (median of {RUNS}) |")
        print(f"| {name}: 10M / 10k invocations | {big[name] / small[name]:.2f} | — | "
              f"{big[name]:.1f} ms vs {small[name]:.1f} ms |")


if __name__ == "__main__":
    main()
