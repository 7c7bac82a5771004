"""Trigger and event source benchmarks, as ratios against baselines measured in the same run.

    .venv/bin/python bench/bench_triggers.py

1. SQS SendMessage p50, and ReceiveMessage + DeleteMessage p50, vs a signed
   GetFunctionConfiguration p50 (the same server, the same signing, no Redis work).
2. A function URL GET p50 vs a synchronous Invoke p50 of the same no-op function.
3. Messages a second through an SQS event source mapping (BatchSize 10) and a stream mapping
   (BatchSize 100) into a no-op function, vs synchronous Invokes a second with 8 clients, one
   message each: what batching buys.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_runtime import NOOP, ROLE, RUNTIME, _timed, _zip  # noqa: E402
from bench.stack import lambda_client, percentile, stratus_stack  # noqa: E402

MESSAGES = 2000
CLIENTS = 8


def _client(stack, service: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=stack["url"],
        region_name="us-east-1",
        aws_access_key_id=stack["key"]["AccessKeyId"],
        aws_secret_access_key=stack["key"]["SecretAccessKey"],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=32),
    )


def _signed_post(stack, path: str, body: dict) -> dict:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{stack['url']}{path}"
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url=url, data=data, headers={"Content-Type": "application/json"})
    credentials = Credentials(stack["key"]["AccessKeyId"], stack["key"]["SecretAccessKey"])
    SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(url, data=data, headers=dict(request.headers.items()), method="POST")
    with urllib.request.urlopen(prepared, timeout=30) as response:
        return json.loads(response.read())


def invoke_throughput(client) -> float:
    def one(_):
        client.invoke(FunctionName="noop", Payload=b"{}")

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(50)))  # warm every environment first
        started = time.perf_counter()
        list(pool.map(one, range(600)))
    return 600 / (time.perf_counter() - started)


def sqs_mapping_throughput(stack, client, sqs) -> float:
    url = sqs.create_queue(QueueName="bench", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def send(start):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)]
        )

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(send, range(0, MESSAGES, 10)))
    started = time.perf_counter()
    client.create_event_source_mapping(EventSourceArn=arn, FunctionName="noop", BatchSize=10)
    while True:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if (
            attributes["ApproximateNumberOfMessages"] == "0"
            and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        ):
            break
        time.sleep(0.05)
    return MESSAGES / (time.perf_counter() - started)


def stream_mapping_throughput(stack, client) -> float:
    import redis

    _signed_post(stack, "/api/v1/streams", {"name": "bench", "shardCount": 1})
    last = None
    for start in range(0, MESSAGES, 500):
        put = _signed_post(
            stack,
            "/api/v1/streams/bench/records",
            {"records": [{"data": f"r{i}", "partitionKey": f"k{i % 50}"} for i in range(start, start + 500)]},
        )
        last = put["records"][-1]["sequenceNumber"]
    last_id = f"{int(last[:-10])}-{int(last[-10:])}"
    started = time.perf_counter()
    mapping = client.create_event_source_mapping(
        EventSourceArn="arn:aws:kinesis:us-east-1:000000000000:stream/bench",
        FunctionName="noop",
        StartingPosition="TRIM_HORIZON",
        BatchSize=100,
    )
    connection = redis.Redis.from_url(stack["redis_url"])
    key = f"stratus:esm:{mapping['UUID']}:checkpoints"
    while (connection.hget(key, "shardId-000000000000") or b"").decode() != last_id:
        time.sleep(0.02)
    return MESSAGES / (time.perf_counter() - started)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    with stratus_stack(workers=2) as stack:
        client, sqs = lambda_client(stack), _client(stack, "sqs")
        client.create_function(
            FunctionName="noop",
            Runtime=RUNTIME,
            Role=ROLE,
            Handler="lambda_function.handler",
            Code={"ZipFile": _zip(NOOP)},
        )
        function_url = client.create_function_url_config(FunctionName="noop", AuthType="NONE")["FunctionUrl"]
        # A NONE URL is public once the function's policy says so, as AWS requires.
        client.add_permission(
            FunctionName="noop",
            StatementId="FunctionURLAllowPublicAccess",
            Action="lambda:InvokeFunctionUrl",
            Principal="*",
            FunctionUrlAuthType="NONE",
        )
        client.add_permission(
            FunctionName="noop",
            StatementId="FunctionURLAllowInvokeAction",
            Action="lambda:InvokeFunction",
            Principal="*",
            InvokedViaFunctionUrl=True,
        )
        queue_url = sqs.create_queue(QueueName="latency")["QueueUrl"]

        def receive_delete():
            messages = sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
            for message in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

        def url_get():
            with urllib.request.urlopen(function_url, timeout=30) as response:
                response.read()

        send = lambda: sqs.send_message(QueueUrl=queue_url, MessageBody="x")  # noqa: E731
        config = lambda: client.get_function_configuration(FunctionName="noop")  # noqa: E731
        invoke = lambda: client.invoke(FunctionName="noop", Payload=b"{}")  # noqa: E731
        for warm in (send, config, invoke, url_get):
            _timed(warm, 20)
        sends, receives, configs, invokes, urls = [], [], [], [], []
        for _ in range(10):  # interleaved, so drift on a busy machine hits both sides alike
            sends += _timed(send, 20)
            receives += _timed(receive_delete, 20)
            configs += _timed(config, 20)
            invokes += _timed(invoke, 20)
            urls += _timed(url_get, 20)
        invoked = invoke_throughput(client)
        via_sqs = sqs_mapping_throughput(stack, client, sqs)
        via_stream = stream_mapping_throughput(stack, client)
    c50 = percentile(configs, 0.5)
    rows = [
        ("SQS SendMessage p50 / GetFunctionConfiguration p50", percentile(sends, 0.5), c50, "≤ 1.5", "ms"),
        (
            "SQS ReceiveMessage + DeleteMessage p50 / GetFunctionConfiguration p50",
            percentile(receives, 0.5),
            c50,
            "≤ 3",
            "ms",
        ),
        (
            "Function URL GET p50 / Invoke p50 (no-op)",
            percentile(urls, 0.5),
            percentile(invokes, 0.5),
            "≤ 1.2",
            "ms",
        ),
        ("SQS mapping (BatchSize 10) / synchronous Invoke, 8 clients", via_sqs, invoked, "≥ 1", "/s"),
        ("Stream mapping (BatchSize 100) / synchronous Invoke, 8 clients", via_stream, invoked, "≥ 1", "/s"),
    ]
    print("| Benchmark | Ratio | Target | Measured in this run |")
    print("| --- | --- | --- | --- |")
    for name, value, baseline, target, unit in rows:
        shown = (
            f"{value:.1f} ms vs {baseline:.1f} ms" if unit == "ms" else f"{value:.0f}/s vs {baseline:.0f}/s"
        )
        print(f"| {name} | {value / baseline:.2f} | {target} | {shown} |")


if __name__ == "__main__":
    main()
