"""A throwaway Stratus stack for benchmarks: its own Redis, SQLite database and data dir.

Everything runs as `make run` runs it (uvicorn, real workers and sandboxes, the metrics
consumer, the scheduler and the poller, at make run's log level), on free ports, and is torn
down at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.env import web_processes_default  # noqa: E402
from dashboard.managed_redis import free_port, redis_start  # noqa: E402

# The execution role every benchmark function runs with: the stack creates it, as CreateFunction
# takes only a role Lambda can assume.
ROLE = "arn:aws:iam::000000000000:role/bench"
LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@contextmanager
def stratus_stack(*, workers: int = 1, **settings: str):
    """``workers`` host processes (make run starts one); ``settings`` are extra environment
    variables for every process of the stack."""
    data_dir = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    redis_port, http_port = free_port(), free_port()
    password = secrets.token_urlsafe(16)
    redis_process = redis_start(directory=data_dir / "redis", port=redis_port, password=password, quiet=True)
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    env.update(
        STRATUS_DATA_DIR=str(data_dir),
        REDIS_URL=f"redis://:{password}@127.0.0.1:{redis_port}/0",
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        STRATUS_LOG_LEVEL="INFO",  # make run's level: the request log is part of the cost
    )
    env.update(settings)
    processes: list[subprocess.Popen] = []  # the web server, then the workers
    companions: list[subprocess.Popen] = []  # the consumer, the scheduler and the poller
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        key = json.loads(
            subprocess.run(
                [sys.executable, "manage.py", "createaccesskey", "bench"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "dashboard.asgi:application",
                    "--port",
                    str(http_port),
                    "--no-access-log",
                    "--lifespan",
                    "off",
                    "--workers",  # as many web processes as make run starts
                    env.get("STRATUS_WEB_PROCESSES") or str(web_processes_default()),
                ],
                cwd=ROOT,
                env=env,
                **quiet,
            )
        )
        for slot in range(1, workers + 1):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "stratus_worker", "--slot", str(slot)],
                    cwd=ROOT,
                    env=env,
                    **quiet,
                )
            )
        # The rest of what `make run` starts, so a benchmark pays what a user's stack pays.
        for command in ("stratus_consumer", "stratus_scheduler", "stratus_poller"):
            companions.append(
                subprocess.Popen([sys.executable, "manage.py", command], cwd=ROOT, env=env, **quiet)
            )
        url = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

        def redis_restart(down_seconds: float = 0.0) -> None:
            """Kill the stack's Redis (no goodbye) and start it again on the same port and data."""
            nonlocal redis_process
            redis_process.kill()
            redis_process.wait()
            time.sleep(down_seconds)
            redis_process = redis_start(
                directory=data_dir / "redis", port=redis_port, password=password, quiet=True
            )

        stack = {
            "url": url,
            "key": key,
            "env": env,
            "data_dir": data_dir,
            "redis_url": env["REDIS_URL"],
            "workers": processes[1:],
            "redis_restart": redis_restart,
            # Every process of the stack, Redis included (its pid changes when it restarts).
            "pids": lambda: [process.pid for process in processes + companions] + [redis_process.pid],
        }
        iam = aws_client("iam", stack)
        iam.create_role(
            RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY)
        )
        # Queue and stream triggers read their source with the function's role, as on AWS.
        for policy in ("AWSLambdaSQSQueueExecutionRole", "AWSLambdaKinesisExecutionRole"):
            iam.attach_role_policy(
                RoleName=ROLE.rsplit("/", 1)[1], PolicyArn=f"arn:aws:iam::aws:policy/service-role/{policy}"
            )
        yield stack
    finally:
        for process in processes + companions:
            process.terminate()
        for process in processes + companions:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        redis_process.terminate()
        redis_process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def lambda_client(stack, *, connections: int = 32):
    return aws_client("lambda", stack, connections=connections)


def aws_client(service: str, stack, *, connections: int = 32):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=stack["url"],
        region_name="us-east-1",
        aws_access_key_id=stack["key"]["AccessKeyId"],
        aws_secret_access_key=stack["key"]["SecretAccessKey"],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=connections),
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
