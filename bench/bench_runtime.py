"""Runtime benchmarks: each result is a ratio against a baseline measured in the same run.

    .venv/bin/python bench/bench_runtime.py

1. Warm synchronous Invoke of a no-op Python handler vs a signed GetFunctionConfiguration
   through the same client and server (p50 and p99), and GetFunctionConfiguration vs moto's
   server (no signature check there) on the same machine.
2. CPU per warm invoke across every process of the stack (from /proc: the web server, the
   host, the metrics consumer, scheduler, poller, Redis and the environments), once the
   consumer has ingested the records, vs the CPU of a bare RQ round trip (a SimpleWorker,
   Redis and the enqueuing client).
3. Cold start (Init Duration of the first invoke of a new version) vs starting
   `bwrap ... python3 -c pass` directly with the same sandbox arguments.
4. Warm throughput with 1, 8, 32 and 100 concurrent clients vs a bare RQ round trip (enqueue
   a no-op job, block on its result) with two SimpleWorkers and 32 clients.
5. A burst of 100 concurrent invokes of a 1 s sleep (128 MB): wall time of the cold round and
   of the warm round that follows, in units of the handler's 1 s.
6. What a one-line print() in the handler adds to a warm invoke's p50.
7. Idle memory of one warm Python environment (RSS of its processes).
8. What a network of its own costs a sandbox: cold start (INIT) and warm invoke of
   environments started in this process with STRATUS_SANDBOX_NETWORK=isolated vs host,
   alternating, with the ready reserve of networks as configured and with none.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import ROLE, ROOT, lambda_client, percentile, stratus_stack  # noqa: E402

NOOP = "def handler(event, context):\n    return None\n"
PRINTS = "def handler(event, context):\n    print('hello')\n    return None\n"
SLEEPS = "import time\n\ndef handler(event, context):\n    time.sleep(1)\n"
RUNTIME = f"python3.{sys.version_info.minor}"
CLIENTS = 32
CLIENT_COUNTS = (1, 8, 32, 100)
BURST = 100
RQ_WORKERS = 2


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", source)
    return buffer.getvalue()


def _timed(call, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def warm_latency(client) -> dict:
    client.create_function(
        FunctionName="noop",
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": _zip(NOOP)},
    )
    invoke = lambda: client.invoke(FunctionName="noop", Payload=b"{}")["Payload"].read()  # noqa: E731
    config = lambda: client.get_function_configuration(FunctionName="noop")  # noqa: E731
    _timed(invoke, 20), _timed(config, 20)  # warm up both paths
    invokes, configs = [], []
    for _ in range(10):  # interleave so both see the same machine
        invokes += _timed(invoke, 30)
        configs += _timed(config, 30)
    return {
        "invoke_p50": percentile(invokes, 0.5),
        "invoke_p99": percentile(invokes, 0.99),
        "config_p50": percentile(configs, 0.5),
        "config_p99": percentile(configs, 0.99),
    }


def cold_start(client, stack) -> dict:
    from functions_app.runtime.languages import runtime_get
    from functions_app.runtime.sandbox import SandboxSpec, sandbox_command

    init_durations = []
    for index in range(15):
        name = f"cold{index}"
        client.create_function(
            FunctionName=name,
            Runtime=RUNTIME,
            Role=ROLE,
            Handler="lambda_function.handler",
            Code={"ZipFile": _zip(NOOP + f"# {index}\n")},
        )
        log = client.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")["LogResult"]
        import base64

        match = re.search(r"Init Duration: ([\d.]+) ms", base64.b64decode(log).decode())
        init_durations.append(float(match.group(1)))
    runtime = runtime_get(RUNTIME)
    code_dir = Path(stack["data_dir"]) / "bench-empty"
    code_dir.mkdir(exist_ok=True)
    launch = sandbox_command(
        SandboxSpec(
            command=[runtime.executable, "-c", "pass"],
            environment={"PATH": "/usr/bin:/bin"},
            code_dir=code_dir,
            runtime_dir=code_dir,
            extra_ro_binds=runtime.ro_binds,
            tmp_size_mb=512,
            memory_mb=128,
            cgroup_procs=(),
        )
    )
    launch.close_fds()

    def bare_start():
        # bwrap reads its options (and the seccomp filter) from pipes, made anew each time.
        again = sandbox_command(
            SandboxSpec(
                command=[runtime.executable, "-c", "pass"],
                environment={"PATH": "/usr/bin:/bin"},
                code_dir=code_dir,
                runtime_dir=code_dir,
                extra_ro_binds=runtime.ro_binds,
                tmp_size_mb=512,
                memory_mb=128,
                cgroup_procs=(),
            )
        )
        try:
            subprocess.run(
                again.argv, env=again.environment, preexec_fn=again.preexec, pass_fds=again.fds, check=True
            )
        finally:
            again.close_fds()

    bare = _timed(bare_start, 15)
    return {"init_p50": percentile(init_durations, 0.5), "bwrap_python_p50": percentile(bare, 0.5)}


def network_cost(stack) -> dict:
    """INIT and warm invoke p50 of in-process environments: isolated (with the reserve of
    ready networks, and without) vs the host's network, alternating so all see one machine."""
    from functions_app.runtime.code_cache import runtime_dir
    from functions_app.runtime.environment import ExecutionEnvironment
    from functions_app.runtime.sandbox_host import sandbox_host_create
    from functions_app.runtime.spec import FunctionSpec, InvokeRequest

    cache = Path(stack["data_dir"]) / "bench-network"
    code = cache / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "lambda_function.py").write_text(NOOP)
    # Readable by the sandbox's uid, as the worker's code cache makes it (settings set umask 077).
    code.chmod(0o755)
    (code / "lambda_function.py").chmod(0o644)
    hosts = {}
    for label, mode, reserve in (
        ("isolated", "isolated", "2"),
        ("no_reserve", "isolated", "0"),
        ("host", "host", "2"),
    ):
        os.environ["STRATUS_SANDBOX_NETWORK"], os.environ["STRATUS_SANDBOX_NETWORK_RESERVE"] = mode, reserve
        import functions_app.runtime.sandbox_host as sandbox_host

        sandbox_host.NETWORK_RESERVE = int(reserve)
        hosts[label] = sandbox_host_create(cache / label)
    spec = FunctionSpec(
        function_name="bench", version="$LATEST", revision_id="r", code_sha256="bench", code_storage_name="",
        runtime=RUNTIME, handler="lambda_function.handler", memory_size=128, timeout=10, ephemeral_storage=512,
        environment={}, log_group="/aws/lambda/bench", log_format="Text", region="us-east-1",
        account_id="000000000000",
    )  # fmt: skip
    inits: dict[str, list[float]] = {label: [] for label in hosts}
    warms: dict[str, list[float]] = {label: [] for label in hosts}
    request = InvokeRequest(request_id="r", payload=b"{}", invoked_function_arn=spec.function_arn)
    for round_ in range(12):
        for label, host in hosts.items():
            time.sleep(0.3)  # the reserve refills between cold starts, as it does between bursts
            environment = ExecutionEnvironment(spec, host=host, code_dir=code, runtime_dir=runtime_dir(cache))
            inits[label].append(environment.start())
            samples = _timed(lambda environment=environment: environment.invoke(request), 20)
            if round_:
                warms[label] += samples
            environment.shutdown()
    for host in hosts.values():
        host.close()
    return {
        label: {"init_p50": percentile(inits[label], 0.5), "warm_p50": percentile(warms[label], 0.5)}
        for label in hosts
    }


def _throughput(call, clients: int = CLIENTS, seconds: float = 6.0) -> float:
    stop = time.monotonic() + seconds
    done = [0] * clients

    def loop(index):
        while time.monotonic() < stop:
            call(index)
            done[index] += 1

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(loop, range(clients)))
    return sum(done) / seconds


def _rq_workers(stack, count: int) -> list[subprocess.Popen]:
    workers = [
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
                "bench",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    time.sleep(1.5)  # a benchmark's warm-up, not a wait for a condition
    return workers


def throughput(stack, workers: int) -> dict:
    clients = [lambda_client(stack) for _ in range(max(CLIENT_COUNTS))]
    stratus = {
        count: _throughput(
            lambda i: clients[i].invoke(FunctionName="noop", Payload=b"{}")["Payload"].read(), count
        )
        for count in CLIENT_COUNTS
    }

    import redis
    from rq import Queue

    connection = redis.Redis.from_url(stack["redis_url"], socket_timeout=None)
    rq_workers = _rq_workers(stack, workers)
    local = threading.local()

    def rq_call(_):
        if not hasattr(local, "queue"):
            local.queue = Queue(
                "bench", connection=redis.Redis.from_url(stack["redis_url"], socket_timeout=None)
            )
        job = local.queue.enqueue("bench.noop.noop", None, result_ttl=30)
        job.latest_result(timeout=30)

    try:
        bare = _throughput(rq_call)
    finally:
        for process in rq_workers:
            process.terminate()
        connection.close()
    return {"stratus_per_s": stratus, "rq_per_s": bare}


def _tree_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` and every live descendant (sandboxes included), plus what
    their reaped children used, from /proc."""
    parents: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = fields
        parents.setdefault(int(fields[1]), []).append(int(entry))
    ticks = 0
    pending, seen = list(pids), set()
    while pending:
        pid = pending.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        fields = stats[pid]
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        pending.extend(parents.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")


def _ingested(stack) -> None:
    """Wait until the metrics consumer has taken in every record and log line so far."""
    import redis

    connection = redis.Redis.from_url(stack["redis_url"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pending = 0
        for stream in ("stratus:records", "stratus:logs"):
            for group in connection.xinfo_groups(stream):
                pending += (group.get("lag") or 0) + (group.get("pending") or 0)
        if not pending:
            return
        time.sleep(0.1)
    raise RuntimeError("the metrics consumer did not catch up within 60 s")


def cpu_per_invoke(client, stack, count: int = 300) -> dict:
    """CPU seconds per warm invoke over the whole stack, and per bare RQ round trip."""
    import redis
    from rq import Queue

    for _ in range(20):
        client.invoke(FunctionName="noop", Payload=b"{}")["Payload"].read()
    _ingested(stack)
    before = _tree_cpu_seconds(stack["pids"]())
    for _ in range(count):
        client.invoke(FunctionName="noop", Payload=b"{}")["Payload"].read()
    _ingested(stack)
    stratus = (_tree_cpu_seconds(stack["pids"]()) - before) / count

    workers = _rq_workers(stack, 1)
    try:
        queue = Queue("bench", connection=redis.Redis.from_url(stack["redis_url"], socket_timeout=None))
        for _ in range(20):
            queue.enqueue("bench.noop.noop", None, result_ttl=30).latest_result(timeout=30)
        pids = [worker.pid for worker in workers] + [stack["pids"]()[-1]]  # the worker and Redis
        before, mine = _tree_cpu_seconds(pids), sum(os.times()[:2])
        for _ in range(count):
            queue.enqueue("bench.noop.noop", None, result_ttl=30).latest_result(timeout=30)
        rq = (_tree_cpu_seconds(pids) - before + sum(os.times()[:2]) - mine) / count
    finally:
        for worker in workers:
            worker.terminate()
    return {"stratus_ms": stratus * 1000, "rq_ms": rq * 1000}


def burst(client) -> dict:
    """Wall seconds of BURST concurrent invokes of a 1 s sleep: cold, then warm."""
    client.create_function(
        FunctionName="sleeper",
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": _zip(SLEEPS)},
        MemorySize=128,
        Timeout=60,
    )

    def call(_) -> tuple[str | None, bytes]:
        answer = client.invoke(FunctionName="sleeper", Payload=b"{}")
        return answer.get("FunctionError"), answer["Payload"].read()  # reading frees the connection

    def round_trip() -> float:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=BURST) as pool:
            answers = list(pool.map(call, range(BURST)))
        failed = [body for error, body in answers if error]
        if failed:
            raise RuntimeError(f"{len(failed)} of the burst failed: {failed[0][:300]!r}")
        return time.monotonic() - started

    return {"cold_s": round_trip(), "warm_s": round_trip()}


def print_cost(client) -> dict:
    client.create_function(
        FunctionName="printer",
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": _zip(PRINTS)},
    )
    noop = lambda: client.invoke(FunctionName="noop", Payload=b"{}")["Payload"].read()  # noqa: E731
    prints = lambda: client.invoke(FunctionName="printer", Payload=b"{}")["Payload"].read()  # noqa: E731
    _timed(noop, 10), _timed(prints, 10)
    quiet, loud = [], []
    for _ in range(10):  # interleaved
        quiet += _timed(noop, 20)
        loud += _timed(prints, 20)
    return {"noop_p50": percentile(quiet, 0.5), "print_p50": percentile(loud, 0.5)}


def moto_config_latency(client) -> dict:
    """GetFunctionConfiguration p50 on this stack and on moto's server, interleaved."""
    import boto3
    from botocore.config import Config

    from dashboard.managed_redis import free_port

    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        options = {
            "endpoint_url": f"http://127.0.0.1:{port}",
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "config": Config(retries={"mode": "standard", "total_max_attempts": 1}),
        }
        deadline = time.monotonic() + 30
        while True:
            try:
                iam = boto3.client("iam", **options)
                role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        moto_lambda = boto3.client("lambda", **options)
        moto_lambda.create_function(
            FunctionName="noop", Runtime=RUNTIME, Role=role, Handler="lambda_function.handler",
            Code={"ZipFile": _zip(NOOP)},
        )
        ours = lambda: client.get_function_configuration(FunctionName="noop")  # noqa: E731
        theirs = lambda: moto_lambda.get_function_configuration(FunctionName="noop")  # noqa: E731
        _timed(ours, 20), _timed(theirs, 20)
        stratus, moto_samples = [], []
        for _ in range(10):
            stratus += _timed(ours, 30)
            moto_samples += _timed(theirs, 30)
    finally:
        moto.terminate()
        moto.wait()
    return {"stratus_p50": percentile(stratus, 0.5), "moto_p50": percentile(moto_samples, 0.5)}


def idle_memory(stack) -> float:
    """RSS (MB) of the processes of one idle warm environment (bwrap, its init and the runtime)."""
    totals = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"python_bootstrap.py" in cmdline and b"bwrap" not in cmdline.split(b"\0")[0]:
            status = Path(f"/proc/{pid}/status").read_text()
            rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
            totals.append(rss)
    return min(totals) if totals else float("nan")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    with stratus_stack() as stack:  # as make run starts it: one host process
        os.environ.update({k: stack["env"][k] for k in ("STRATUS_DATA_DIR", "REDIS_URL")})
        import django

        django.setup()
        client = lambda_client(stack)
        warm = warm_latency(client)
        moto = moto_config_latency(client)
        cpu = cpu_per_invoke(client, stack)
        printing = print_cost(client)
        cold = cold_start(client, stack)
        rates = throughput(stack, RQ_WORKERS)
        bursts = burst(lambda_client(stack, connections=BURST))
        memory = idle_memory(stack)
        network = network_cost(stack)
    isolated, no_reserve, shared = network["isolated"], network["no_reserve"], network["host"]
    rows = [
        (
            "Warm invoke p50 / GetFunctionConfiguration p50",
            warm["invoke_p50"] / warm["config_p50"],
            "≤ 1.3",
            f"{warm['invoke_p50']:.1f} ms vs {warm['config_p50']:.1f} ms",
        ),
        (
            "Warm invoke p99 / GetFunctionConfiguration p99",
            warm["invoke_p99"] / warm["config_p99"],
            "—",
            f"{warm['invoke_p99']:.1f} ms vs {warm['config_p99']:.1f} ms",
        ),
        (
            "GetFunctionConfiguration p50 / moto server's p50",
            moto["stratus_p50"] / moto["moto_p50"],
            "≤ 1.0",
            f"{moto['stratus_p50']:.1f} ms vs {moto['moto_p50']:.1f} ms",
        ),
        (
            "CPU per warm invoke, whole stack / bare RQ round trip",
            cpu["stratus_ms"] / cpu["rq_ms"],
            "≤ 2.0",
            f"{cpu['stratus_ms']:.1f} ms vs {cpu['rq_ms']:.1f} ms of CPU",
        ),
        (
            "A print() in the handler: warm p50 added (ms)",
            printing["print_p50"] - printing["noop_p50"],
            "≤ 2",
            f"{printing['print_p50']:.1f} ms vs {printing['noop_p50']:.1f} ms",
        ),
        (
            "Cold start (Init Duration p50) / bwrap python3 -c pass p50",
            cold["init_p50"] / cold["bwrap_python_p50"],
            "≤ 1.5",
            f"{cold['init_p50']:.1f} ms vs {cold['bwrap_python_p50']:.1f} ms",
        ),
        *[
            (
                f"Warm throughput, {count} client{'s' if count > 1 else ''} / bare RQ, "
                f"{CLIENTS} clients, {RQ_WORKERS} workers",
                rates["stratus_per_s"][count] / rates["rq_per_s"],
                "≥ 0.5" if count == CLIENTS else "—",
                f"{rates['stratus_per_s'][count]:.0f}/s vs {rates['rq_per_s']:.0f}/s",
            )
            for count in CLIENT_COUNTS
        ],
        (
            f"Burst of {BURST} × 1 s sleep (128 MB), cold round: wall / 1 s",
            bursts["cold_s"],
            "≤ 15",
            f"{bursts['cold_s']:.1f} s",
        ),
        (
            f"Burst of {BURST} × 1 s sleep (128 MB), warm round: wall / 1 s",
            bursts["warm_s"],
            "≤ 3",
            f"{bursts['warm_s']:.1f} s",
        ),
        ("Idle RSS of one warm Python environment (MB)", memory, "≤ 20", "runtime process, VmRSS"),
        (
            "Cold start (INIT p50), isolated network / host network",
            isolated["init_p50"] / shared["init_p50"],
            "≤ 1.3",
            f"{isolated['init_p50']:.1f} ms vs {shared['init_p50']:.1f} ms",
        ),
        (
            "Cold start (INIT p50), isolated with no network ready / host network",
            no_reserve["init_p50"] / shared["init_p50"],
            "—",
            f"{no_reserve['init_p50']:.1f} ms vs {shared['init_p50']:.1f} ms",
        ),
        (
            "Warm invoke p50 in-process, isolated network / host network",
            isolated["warm_p50"] / shared["warm_p50"],
            "≈ 1",
            f"{isolated['warm_p50']:.2f} ms vs {shared['warm_p50']:.2f} ms",
        ),
    ]
    print("| Benchmark | Ratio | Target | Measured in this run |")
    print("| --- | --- | --- | --- |")
    for name, value, target, detail in rows:
        print(f"| {name} | {value:.2f} | {target} | {detail} |")


if __name__ == "__main__":
    main()
