"""Shared fixtures: a live Stratus server in a subprocess, and AWS clients pointed at it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from django.conf import settings
from django.db import connection
from django.test import TransactionTestCase

from dashboard.managed_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


def _is_deadlock(error: BaseException | None) -> bool:
    while error is not None:
        if "deadlock detected" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _flush_retrying_deadlocks(original):
    """PostgreSQL's TRUNCATE between tests can deadlock with the live server, workers and
    consumer still writing; PostgreSQL aborts one side, and if it is the flush, it is safe
    to flush again."""

    def teardown(self):
        for attempt in range(5):
            try:
                return original(self)
            except Exception as error:
                if attempt == 4 or not _is_deadlock(error):
                    raise
                time.sleep(0.2 * (attempt + 1))

    return teardown


TransactionTestCase._fixture_teardown = _flush_retrying_deadlocks(TransactionTestCase._fixture_teardown)


def _database_url() -> str:
    """The URL of the test database pytest-django created, for processes we start."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    if connection.vendor == "postgresql":
        user = db.get("USER") or "postgres"
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    raise RuntimeError(f"no live-server support for {connection.vendor}")


def wait_until(
    condition, *, timeout: float, what: str = "the condition", every: float = 0.05, ignoring: tuple = ()
):
    """Poll ``condition()`` until it returns something truthy (which is returned) or
    ``timeout`` seconds pass (AssertionError naming ``what``): wait on a state, not a clock.
    A condition that raises one of ``ignoring`` counts as not yet (the last error is told)."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if value := condition():
                return value
        except ignoring as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise AssertionError(f"{what} did not hold within {timeout} s{detail}")
        time.sleep(every)


def holds_throughout(condition, *, seconds: float, what: str = "the condition") -> None:
    """Assert ``condition()`` stays truthy for ``seconds``: what ``wait_until`` is for a state
    that must come, this is for one that must last (that nothing happens within a window the
    code under test promises)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        assert condition(), f"{what} stopped holding within {seconds} s"
        time.sleep(0.05)


def stratus_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_database_url(),
        REDIS_URL=settings.REDIS_URL,
        STRATUS_DATA_DIR=str(settings.DATA_DIR),
        SECRET_KEY=settings.SECRET_KEY,
        PYTHONUNBUFFERED="1",
        # The RabbitMQ on this machine, when there is one (tests/test_event_source_rabbitmq.py).
        STRATUS_MQ_BROKERS="local=amqp://guest:guest@127.0.0.1:5672/",
    )
    if os.geteuid() != 0:
        # Networks of their own need root; without it, the suite runs sandboxes on the host's.
        env.setdefault("STRATUS_SANDBOX_NETWORK", "host")
    env.update(extra)
    return env


@pytest.fixture(scope="session", autouse=True)
def _test_database_released(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end any session still connected to it (a thread
    or a child process a test left behind), so PostgreSQL can drop it and CI leaves no
    database behind."""
    yield
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Stratus ASGI server (uvicorn) on a free port, sharing the test database."""
    port = free_port()
    # Where functions' AWS SDK calls go, through their sandbox's door (AWS_ENDPOINT_URL).
    os.environ["STRATUS_API_URL"] = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed at the end of the session
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "dashboard.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=stratus_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # it answered, healthy or not
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"server did not start:\n{log_path.read_text()}") from None
            time.sleep(0.1)
    yield url
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def _spawn_logged(command: list[str], log_path: Path, **env: str) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps it; closed with the session
    return subprocess.Popen(command, cwd=ROOT, env=stratus_env(**env), stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="session")
def stratus_workers(live_server_url, tmp_path_factory):
    """Two real Stratus workers (as `make run` starts them) serving the live server's queue."""
    logs = tmp_path_factory.mktemp("workers")
    workers = [
        _spawn_logged(
            [sys.executable, "manage.py", "stratus_worker", "--slot", str(slot)],
            logs / f"worker-{slot}.log",
            STRATUS_ENV_IDLE_SECONDS="600",
            STRATUS_ASYNC_RETRY_BASE_SECONDS="1",
            STRATUS_DELIVERY_RETRY_SECONDS="1,1,1",
        )
        for slot in (1, 2)
    ]
    time.sleep(0.5)
    for worker in workers:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited early: {(logs / 'worker-1.log').read_text()}")
    yield workers
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@pytest.fixture(scope="session")
def stratus_consumer(live_server_url, tmp_path_factory):
    """The real metrics consumer, as `make run` starts it."""
    log = tmp_path_factory.mktemp("consumer") / "consumer.log"
    process = _spawn_logged([sys.executable, "manage.py", "stratus_consumer"], log)
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def stratus_pollers(live_server_url, tmp_path_factory):
    """Two real event source pollers, as `make run` starts them (they share the work by leases)."""
    logs = tmp_path_factory.mktemp("pollers")
    pollers = [
        _spawn_logged([sys.executable, "manage.py", "stratus_poller"], logs / f"poller-{slot}.log")
        for slot in (1, 2)
    ]
    yield pollers
    for poller in pollers:
        poller.terminate()
    for poller in pollers:
        try:
            poller.wait(timeout=20)
        except subprocess.TimeoutExpired:
            poller.kill()
            poller.wait()  # gone before the test database is dropped


def signed_get(url: str, key: tuple[str, str], path: str) -> dict:
    """GET a Stratus JSON API path, SigV4-signed as boto3 would sign it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url + path)
    SigV4Auth(Credentials(*key), "lambda", "us-east-1").add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, method="GET", headers=dict(prepared.headers))
    with urllib.request.urlopen(http, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def access_key(transactional_db):
    """An administrator of the default account and a fresh access key pair of theirs:
    ``(access_key_id, secret)``."""
    from iam.services import administrator_key_create

    key, secret = administrator_key_create(username="tester")
    return key.access_key_id, secret


def aws_client(service: str, url: str, key: tuple[str, str], **config):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, **config),
    )


@pytest.fixture
def lambda_client(live_server_url, access_key):
    return aws_client("lambda", live_server_url, access_key)


@pytest.fixture
def lambda_client_unvalidated(live_server_url, access_key):
    """A client that skips botocore's own parameter checks, so the server's are tested."""
    return aws_client("lambda", live_server_url, access_key, parameter_validation=False)


@pytest.fixture
def aws_cli(live_server_url, access_key, tmp_path):
    """Run the AWS CLI against the live server; returns the parsed JSON output."""

    def run(
        *args: str, check: bool = True, key: tuple[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """``key`` signs instead of the administrator's ``access_key``."""
        signing = key or access_key
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=signing[0],
            AWS_SECRET_ACCESS_KEY=signing[1],
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
            AWS_RETRY_MODE="standard",
            AWS_MAX_ATTEMPTS="1",
        )
        result = subprocess.run(
            [sys.executable, "-m", "awscli", "--endpoint-url", live_server_url, "--output", "json", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


HELLO_PY = """
def handler(event, context):
    return {"hello": event.get("name", "world")}
"""


# The ARN of ``lambda_role()``'s default role.
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
# What the default role may do, as a Lambda user's role for triggers and destinations would:
# read SQS and Kinesis event sources, and send to queues, topics and functions.
EVENT_SOURCES_AND_DESTINATIONS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:SendMessage",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:DescribeStream",
                    "kinesis:ListShards",
                    "sns:Publish",
                    "lambda:InvokeFunction",
                ],
                "Resource": "*",
            }
        ],
    }
)


def lambda_role(name: str = "lambda-role", *, path: str = "/", iam=None) -> str:
    """The ARN of a role of the default account that Lambda may assume (its trust policy lets
    lambda.amazonaws.com call sts:AssumeRole), created in the test database if missing: what
    CreateFunction needs as ``Role``. The live server shares the database, so it serves API
    tests too; a stack with a database of its own is given its ``iam`` client (boto3), and the
    role is created through its IAM API. The default role (no ``name``) may also read event
    sources and send to destinations; a named role may do nothing until given policies."""
    from functions_app.services.execution_role import LAMBDA_TRUST_POLICY
    from iam.models import Role
    from iam.services import account_default, inline_policy_put, role_create

    default = name == "lambda-role"
    if iam is not None:
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            created = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)
            if default:
                iam.put_role_policy(
                    RoleName=name, PolicyName="triggers", PolicyDocument=EVENT_SOURCES_AND_DESTINATIONS
                )
            return created["Role"]["Arn"]
    account = account_default()
    role = Role.objects.filter(account=account, name=name).first()
    if role is None:
        role = role_create(account=account, name=name, path=path, trust_policy=LAMBDA_TRUST_POLICY)
        if default:
            inline_policy_put(principal=role, name="triggers", document=EVENT_SOURCES_AND_DESTINATIONS)
    assert role.path == path, f"role {name} exists at path {role.path}, not {path}"
    return role.arn


def function_made(name: str, *, source: str = HELLO_PY, **fields):
    """A function created in-process through the service the Lambda API and the dashboard call."""
    import base64

    from functions_app.models import Function
    from functions_app.services.functions import function_create

    if "Role" not in fields:
        fields["Role"] = lambda_role()
    function_create(
        fields={
            "FunctionName": name,
            "Runtime": f"python3.{sys.version_info.minor}",
            "Handler": "lambda_function.handler",
            "Code": {"ZipFile": base64.b64encode(make_zip({"lambda_function.py": source})).decode()},
            **fields,
        }
    )
    return Function.objects.get(name=name)


@pytest.fixture
def hello_zip() -> bytes:
    return make_zip({"lambda_function.py": HELLO_PY})


@pytest.fixture
def python_runtime() -> str:
    return f"python3.{sys.version_info.minor}"


@pytest.fixture
def create_function(lambda_client, hello_zip, python_runtime):
    """Create a function with sensible defaults (``lambda_role()`` as its role); keyword
    arguments override them."""

    def create(name: str = "hello", **overrides):
        params = {
            "FunctionName": name,
            "Runtime": python_runtime,
            "Handler": "lambda_function.handler",
            "Code": {"ZipFile": hello_zip},
            **overrides,
        }
        if "Role" not in params:
            params["Role"] = lambda_role()
        return lambda_client.create_function(**params)

    return create


def json_dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


class PeerNetwork:
    """Another machine on the network, for this test session: a network namespace at the far
    end of a veth pair. Sandboxes have networks of their own and cannot reach the host's
    loopback, but they reach this address as they would any other machine's."""

    def __init__(self) -> None:
        # Unique per session, so sessions running side by side do not collide.
        tag = os.getpid() % 16000
        self.name = f"stratus-test-{os.getpid()}"
        self.veth = f"stt{tag}"
        base = 4 * tag
        self.host_address = f"10.214.{base // 256}.{base % 256 + 1}"
        self.address = f"10.214.{base // 256}.{base % 256 + 2}"
        self._ip("netns", "add", self.name)
        try:
            self._ip("link", "add", self.veth, "type", "veth", "peer", "name", f"{self.veth}p")
            self._ip("link", "set", f"{self.veth}p", "netns", self.name)
            self._ip("addr", "add", f"{self.host_address}/30", "dev", self.veth)
            self._ip("link", "set", self.veth, "up")
            self._ip("-n", self.name, "addr", "add", f"{self.address}/30", "dev", f"{self.veth}p")
            self._ip("-n", self.name, "link", "set", f"{self.veth}p", "up")
            self._ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    def inside(self, make):
        """``make()`` called in a thread that has entered the namespace: a socket it creates
        belongs to the namespace, whichever thread uses it afterwards."""
        import threading

        from functions_app.runtime.netns import netns_enter

        made: dict = {}

        def run() -> None:
            try:
                with open(f"/run/netns/{self.name}") as namespace:
                    netns_enter(namespace.fileno())
                made["value"] = make()
            except BaseException as exc:
                made["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if "error" in made:
            raise made["error"]
        return made["value"]

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)


@pytest.fixture(scope="session")
def test_network():
    """Another machine sandboxes can reach (None without root, when they share the host's network)."""
    import shutil

    if os.geteuid() != 0 or not shutil.which("ip"):
        yield None
        return
    network = PeerNetwork()
    yield network
    network.close()


class Webhook:
    """A real HTTP endpoint that records every JSON body POSTed to it: on ``network`` (another
    machine, where functions in their own networks can reach it), else on the host's loopback."""

    def __init__(self, network: PeerNetwork | None = None) -> None:
        import queue
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: queue.Queue = queue.Queue()
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.received.put((self.path, json.loads(body), time.time()))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        address = network.address if network is not None else "127.0.0.1"
        if network is not None:
            self.server = network.inside(lambda: ThreadingHTTPServer((address, 0), Handler))
        else:
            self.server = ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int = 1, *, timeout: float = 30) -> list[tuple[str, dict, float]]:
        import queue

        items = []
        deadline = time.monotonic() + timeout
        while len(items) < count:
            try:
                items.append(self.received.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(
                    f"the webhook got {len(items)} of {count} deliveries in {timeout} s"
                ) from None
        return items

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(test_network):
    hook = Webhook(test_network)
    yield hook
    hook.close()


def records(
    *, kind: str | None = None, request_id: str | None = None, function: str | None = None
) -> list[dict]:
    """Invocation records the workers appended to the Redis stream, oldest first."""
    import redis

    from functions_app.runtime.records import RECORDS_STREAM

    client = redis.Redis.from_url(settings.REDIS_URL)
    found = []
    for _, fields in client.xrange(RECORDS_STREAM):
        record = json.loads(fields[b"r"])
        if kind and record.get("kind") != kind:
            continue
        if request_id and record.get("request_id") != request_id:
            continue
        if function and record.get("function") != function:
            continue
        found.append(record)
    return found
