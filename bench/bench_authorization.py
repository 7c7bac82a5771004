"""What authorization costs the hot path: each result is a ratio measured in the same run.

    .venv/bin/python bench/bench_authorization.py

One stack, two web servers on it: one authorizes every request with AWS's policy evaluation
(as Stratus always does), the other has it switched off (STRATUS_AUTHORIZATION=off, which
exists for this benchmark only). The caller is an IAM user, not a superuser, whose access
comes from a group's managed policy, an attached AWS managed policy and an inline policy,
so every request evaluates real policies. Signed GetFunctionConfiguration and a warm
synchronous Invoke of a no-op function are timed, interleaving the two servers.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import ROLE, ROOT, percentile, stratus_stack  # noqa: E402
from dashboard.managed_redis import free_port  # noqa: E402

ROUNDS, PER_ROUND = 10, 30


def _client(service: str, url: str, key: dict):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def _timed(call) -> list[float]:
    samples = []
    for _ in range(PER_ROUND):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _server(env: dict, **extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "dashboard.asgi:application",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=ROOT,
        env={**env, **extra},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            return process, url
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    with stratus_stack(workers=2) as stack:
        admin = stack["key"]
        iam = _client("iam", stack["url"], admin)
        iam.create_user(UserName="developer")
        iam.create_group(GroupName="developers")
        iam.add_user_to_group(GroupName="developers", UserName="developer")
        iam.attach_group_policy(
            GroupName="developers", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_FullAccess"
        )
        iam.attach_user_policy(
            UserName="developer", PolicyArn="arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"
        )
        iam.put_user_policy(
            UserName="developer",
            PolicyName="no-deletes",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Deny", "Action": "lambda:DeleteFunction", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="developer")["AccessKey"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("lambda_function.py", "def handler(event, context):\n    return None\n")
        _client("lambda", stack["url"], admin).create_function(
            FunctionName="noop",
            Runtime=f"python3.{sys.version_info.minor}",
            Role=ROLE,
            Handler="lambda_function.handler",
            Code={"ZipFile": code.getvalue()},
        )
        unchecked, unchecked_url = _server(stack["env"], STRATUS_AUTHORIZATION="off")
        try:
            clients = {
                "on": _client("lambda", stack["url"], key),
                "off": _client("lambda", unchecked_url, key),
            }
            samples: dict[str, dict[str, list[float]]] = {
                mode: {"config": [], "invoke": []} for mode in clients
            }
            for client in clients.values():  # warm both paths and the function
                for _ in range(20):
                    client.get_function_configuration(FunctionName="noop")
                    client.invoke(FunctionName="noop", Payload=b"{}")["Payload"].read()
            for _ in range(ROUNDS):
                for mode, client in clients.items():
                    samples[mode]["config"] += _timed(
                        lambda c=client: c.get_function_configuration(FunctionName="noop")
                    )
                    samples[mode]["invoke"] += _timed(
                        lambda c=client: c.invoke(FunctionName="noop", Payload=b"{}")["Payload"].read()
                    )
        finally:
            unchecked.terminate()
            unchecked.wait(timeout=20)
    print("| Benchmark | Ratio | Target | Measured in this run |")
    print("| --- | --- | --- | --- |")
    for name, label in (("config", "GetFunctionConfiguration"), ("invoke", "Warm Invoke (no-op)")):
        on, off = percentile(samples["on"][name], 0.5), percentile(samples["off"][name], 0.5)
        print(
            f"| {label} p50, authorized / unchecked | {on / off:.2f} | ≤ 1.1 | {on:.1f} ms vs {off:.1f} ms |"
        )


if __name__ == "__main__":
    main()
