"""Asynchronous-invocation benchmarks, as ratios against baselines measured in the same run.

    .venv/bin/python bench/bench_async.py

1. End-to-end async throughput (accepted to completed, no-op handler, the default two
   workers) vs a bare RQ no-op job's throughput with the same number of SimpleWorkers.
2. Accept latency of an Event invoke (202 returned) vs a signed GetFunctionConfiguration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_runtime import NOOP, ROLE, RUNTIME, _timed, _zip  # noqa: E402
from bench.stack import ROOT, lambda_client, percentile, stratus_stack  # noqa: E402

EVENTS = 600
SENDERS = 8  # concurrent clients accepting events, so accepting is not the bottleneck


def _completed(connection, request_ids: set[str]) -> int:
    done = set()
    for _, fields in connection.xrange("stratus:records"):
        record = json.loads(fields[b"r"])
        if record.get("kind") == "invocation" and record.get("request_id") in request_ids:
            done.add(record["request_id"])
    return len(done)


def async_throughput(client, stack) -> float:
    import redis

    connection = redis.Redis.from_url(stack["redis_url"])
    client.invoke(FunctionName="noop", Payload=b"{}")  # warm both paths up
    senders = [lambda_client(stack) for _ in range(SENDERS)]

    def send(index: int) -> list[str]:
        return [
            senders[index].invoke(FunctionName="noop", InvocationType="Event", Payload=b"{}")[
                "ResponseMetadata"
            ]["RequestId"]
            for _ in range(EVENTS // SENDERS)
        ]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        ids = {request_id for batch in pool.map(send, range(SENDERS)) for request_id in batch}
    while _completed(connection, ids) < len(ids):
        time.sleep(0.05)
    return len(ids) / (time.perf_counter() - started)


def rq_throughput(stack, workers: int) -> float:
    import redis
    from rq import Queue

    connection = redis.Redis.from_url(stack["redis_url"])
    queue = Queue("bench-async", connection=connection)
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rq.cli",
                "worker",
                "--worker-class",
                "rq.SimpleWorker",
                "--url",
                stack["redis_url"],
                "--quiet",
                "bench-async",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        time.sleep(1.5)
        started = time.perf_counter()
        jobs = [queue.enqueue("bench.noop.noop", None, result_ttl=60) for _ in range(EVENTS)]
        for job in jobs:
            job.latest_result(timeout=60)
        return EVENTS / (time.perf_counter() - started)
    finally:
        for process in processes:
            process.terminate()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    with stratus_stack(workers=2) as stack:
        client = lambda_client(stack)
        client.create_function(
            FunctionName="noop",
            Runtime=RUNTIME,
            Role=ROLE,
            Handler="lambda_function.handler",
            Code={"ZipFile": _zip(NOOP)},
        )
        event = lambda: client.invoke(FunctionName="noop", InvocationType="Event", Payload=b"{}")  # noqa: E731
        config = lambda: client.get_function_configuration(FunctionName="noop")  # noqa: E731
        _timed(event, 20), _timed(config, 20)
        events, configs = [], []
        for _ in range(10):
            events += _timed(event, 30)
            configs += _timed(config, 30)
        stratus = async_throughput(client, stack)
        bare = rq_throughput(stack, 2)
    print("| Benchmark | Ratio | Target | Measured in this run |")
    print("| --- | --- | --- | --- |")
    print(
        f"| Async end-to-end throughput / bare RQ no-op jobs (2 workers) | {stratus / bare:.2f} | ≥ 0.5 | "
        f"{stratus:.0f}/s vs {bare:.0f}/s |"
    )
    e50, c50 = percentile(events, 0.5), percentile(configs, 0.5)
    print(
        f"| Event accept p50 / GetFunctionConfiguration p50 | {e50 / c50:.2f} | ≤ 1.5 | {e50:.1f} ms vs {c50:.1f} ms |"
    )


if __name__ == "__main__":
    main()
