"""Redis Sentinel: with ``REDIS_SENTINELS`` every Redis client of Stratus follows a failover.

Each test runs a Redis master, its replica and three sentinels of its own (real processes on
free ports, with passwords for the data nodes and for the sentinels), forces a failover with
``SENTINEL FAILOVER`` and shows that what was talking to the old master talks to the new one:
the process's client and the health check, the channel layer and django-rq as the settings
configure them, and a whole Stratus stack (web, host with its RQ workers and scheduler,
metrics consumer, scheduler, poller) that keeps invoking synchronously and asynchronously.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from channels_redis.core import RedisChannelLayer
from django.core.exceptions import ImproperlyConfigured
from django_rq.connection_utils import get_redis_connection
from rq import Queue
from rq.scheduler import SCHEDULER_KEY_TEMPLATE

from bench.stack import ROLE, stratus_stack
from dashboard.health import health_report
from dashboard.managed_redis import free_port, redis_server_binary
from dashboard.redis_settings import RedisSettings, redis_settings_from_env
from functions_app.redis_client import redis_client, redis_client_new
from functions_app.runtime.direct import ALIVE_PREFIX
from functions_app.runtime.records import RECORDS_STREAM
from functions_app.triggers.presence import alive_list
from tests.conftest import ROOT, aws_client, make_zip, stratus_env, wait_until

MASTER = "mymaster"
# A forced failover finishes in about a second; clients then need a reconnect or two.
FAILOVER_SECONDS = 30


def _sentinel_command() -> list[str] | None:
    if shutil.which("redis-sentinel"):
        return ["redis-sentinel"]
    if shutil.which("redis-server"):
        return ["redis-server"]  # the same binary; "--sentinel" goes after the config file
    return None


class SentinelGroup:
    """A master, one replica and three sentinels watching them, in ``directory``."""

    def __init__(self, directory: Path, command: list[str]) -> None:
        self.directory = directory
        self.password = secrets.token_urlsafe(12)
        self.sentinel_password = secrets.token_urlsafe(12)
        self.processes: list[subprocess.Popen] = []
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.master = self._start("master", self.master_port, [])
        self._start("replica", self.replica_port, [f"replicaof 127.0.0.1 {self.master_port}"])
        for port in self.sentinel_ports:
            self._start_sentinel(command, port)
        wait_until(self._watching, timeout=30, what="the sentinels seeing the replica and each other")

    def _start(self, name: str, port: int, extra: list[str]) -> subprocess.Popen:
        folder = self.directory / name
        folder.mkdir()
        lines = [
            "bind 127.0.0.1",
            f"port {port}",
            f"requirepass {self.password}",
            f"masterauth {self.password}",  # the old master, demoted, syncs from the new one
            f"dir {folder}",
            'save ""',
            "appendonly no",
            f"logfile {folder / 'redis.log'}",
            "repl-diskless-sync-delay 0",  # a replica syncs at once, not after 5 s
            *extra,
        ]
        (folder / "redis.conf").write_text("\n".join(lines) + "\n")
        process = subprocess.Popen([redis_server_binary(), str(folder / "redis.conf")])
        self.processes.append(process)
        wait_until(lambda: self._answers(self.node(port)), timeout=15, what=f"the {name} answering")
        return process

    def _start_sentinel(self, command: list[str], port: int) -> None:
        folder = self.directory / f"sentinel-{port}"
        folder.mkdir()
        lines = [
            "bind 127.0.0.1",
            f"port {port}",
            f"dir {folder}",
            f"logfile {folder / 'sentinel.log'}",
            f"requirepass {self.sentinel_password}",
            f"sentinel sentinel-pass {self.sentinel_password}",
            f"sentinel monitor {MASTER} 127.0.0.1 {self.master_port} 2",
            f"sentinel auth-pass {MASTER} {self.password}",
            f"sentinel down-after-milliseconds {MASTER} 1000",
            f"sentinel failover-timeout {MASTER} 2000",
        ]
        config = folder / "sentinel.conf"  # a sentinel rewrites its own configuration
        config.write_text("\n".join(lines) + "\n")
        self.processes.append(subprocess.Popen([*command, str(config), "--sentinel"]))
        wait_until(lambda: self._answers(self.sentinel(port)), timeout=15, what="a sentinel answering")

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, socket_timeout=2)

    def sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.sentinel_password, socket_timeout=2)

    def _watching(self) -> bool:
        if self.node(self.replica_port).info("replication")["master_link_status"] != "up":
            return False
        for port in self.sentinel_ports:
            state = self.sentinel(port).sentinel_master(MASTER)
            if state["num-slaves"] < 1 or state["num-other-sentinels"] < 2:
                return False
        return True

    def env(self) -> dict[str, str]:
        return {
            "REDIS_URL": "",
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": MASTER,
            "REDIS_SENTINEL_PASSWORD": self.sentinel_password,
            "REDIS_PASSWORD": self.password,
        }

    def failover(self, *, how: str = "kill") -> redis.Redis:
        """Make the replica the master, by killing the master (``kill``) or by asking a sentinel
        (``command``: ``SENTINEL FAILOVER``); returns a client of the new master."""
        if how == "kill":
            self.master.kill()
            self.master.wait()
        else:

            def started() -> bool:
                try:
                    return bool(self.sentinel(self.sentinel_ports[0]).sentinel_failover(MASTER))
                except redis.ResponseError:  # NOGOODSLAVE while the sentinel's view of the replica ages
                    return False

            wait_until(started, timeout=FAILOVER_SECONDS, what="the sentinel accepting the failover")
        promoted = self.node(self.replica_port)
        wait_until(
            lambda: promoted.info("replication")["role"] == "master",
            timeout=FAILOVER_SECONDS,
            what="the replica becoming the master",
        )
        return promoted

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def sentinel_group(tmp_path):
    command = _sentinel_command()
    if command is None:
        pytest.skip("needs redis-sentinel (apt-get install redis-sentinel) or redis-server on PATH")
    group = SentinelGroup(tmp_path, command)
    yield group
    group.close()


@pytest.fixture
def sentinel_settings(sentinel_group, monkeypatch) -> RedisSettings:
    """``settings.REDIS`` as the settings module reads it from the sentinel environment."""
    for name, value in sentinel_group.env().items():
        monkeypatch.setenv(name, value)
    return redis_settings_from_env(managed_url=lambda: pytest.fail("the managed Redis was asked for"))


def _writes_reach(client: redis.Redis, node: redis.Redis) -> bool:
    """A write through ``client`` lands on ``node`` (False while the failover settles)."""
    value = secrets.token_hex(4)
    try:
        client.set("sentinel-test", value)
    except redis.RedisError:
        return False
    return node.get("sentinel-test") == value.encode()


# ---- reading the environment ----------------------------------------------------------


def test_it_reads_sentinels_master_passwords_and_db(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.1:26379, [::1]:26380,sentinel-3:26381")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "stratus")
    monkeypatch.setenv("REDIS_PASSWORD", "data-secret")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "sentinel-secret")
    monkeypatch.setenv("REDIS_DB", "2")

    location = redis_settings_from_env(managed_url=lambda: pytest.fail("the managed Redis was asked for"))

    assert location.sentinels == (("10.0.0.1", 26379), ("::1", 26380), ("sentinel-3", 26381))
    assert (location.master, location.password, location.sentinel_password, location.db) == (
        "stratus",
        "data-secret",
        "sentinel-secret",
        2,
    )
    assert location.url == "" and not location.managed


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"REDIS_URL": "redis://x:6379/0", "REDIS_SENTINEL_MASTER": "m"}, "not both"),
        ({}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINELS": "10.0.0.1"}, "host:port"),
        ({"REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINELS": "10.0.0.1:0"}, "host:port"),
        ({"REDIS_SENTINEL_MASTER": "m", "REDIS_DB": "-1"}, "REDIS_DB"),
    ],
)
def test_it_refuses_an_incomplete_or_ambiguous_sentinel_setting(monkeypatch, variables, message):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_SENTINEL_MASTER", raising=False)
    monkeypatch.setenv("REDIS_SENTINELS", "127.0.0.1:26379")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ImproperlyConfigured, match=message):
        redis_settings_from_env(managed_url=lambda: "unused")


def test_without_sentinels_it_uses_redis_url_else_the_managed_redis(monkeypatch):
    monkeypatch.delenv("REDIS_SENTINELS", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://redis-host:6379/0")
    assert redis_settings_from_env(managed_url=lambda: "unused") == RedisSettings(
        url="redis://redis-host:6379/0"
    )

    monkeypatch.delenv("REDIS_URL")
    managed = redis_settings_from_env(managed_url=lambda: "redis://:pw@127.0.0.1:7000/0")
    assert managed == RedisSettings(url="redis://:pw@127.0.0.1:7000/0", managed=True)


# ---- following a failover ---------------------------------------------------------------


@pytest.fixture
def settings_on_sentinel(settings, sentinel_settings):
    """This process's settings on the sentinel group; ``redis_client()`` built afresh for it,
    and again for the session's Redis afterwards."""
    settings.REDIS = sentinel_settings
    redis_client.cache_clear()
    yield settings
    redis_client.cache_clear()


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["kill", "command"])
def test_redis_client_and_the_health_check_follow_a_failover(settings_on_sentinel, sentinel_group, how):
    client = redis_client()
    assert _writes_reach(client, sentinel_group.node(sentinel_group.master_port))
    assert health_report()["redis"]["status"] == "ok"

    new_master = sentinel_group.failover(how=how)

    wait_until(
        lambda: _writes_reach(client, new_master),
        timeout=FAILOVER_SECONDS,
        what="writes reaching the new master",
    )
    assert client is redis_client()  # the same long-lived client, reconnected
    wait_until(
        lambda: health_report()["redis"]["status"] == "ok",
        timeout=FAILOVER_SECONDS,
        what="a healthy Redis check",
    )


def _settings_dump(env: dict[str, str]) -> dict:
    """What the settings module makes of ``env``, read by a process of its own."""
    script = (
        "import json; from django.conf import settings; "
        "print(json.dumps({'managed': settings.REDIS_IS_MANAGED, "
        "'channel_layers': settings.CHANNEL_LAYERS, 'rq_queues': settings.RQ_QUEUES}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "dashboard.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


async def _round_trip(layer: RedisChannelLayer, channel: str) -> bool:
    """A message sent on ``channel`` comes back from it (False while the failover settles)."""
    message = {"type": "test.message", "n": secrets.token_hex(4)}
    try:
        await layer.send(channel, message)
        return await asyncio.wait_for(layer.receive(channel), timeout=5) == message
    except (redis.RedisError, OSError):  # OSError: TimeoutError too
        return False


async def _channel_layer_across(group: SentinelGroup, layer: RedisChannelLayer) -> None:
    assert await _round_trip(layer, "sentinel-test")
    await asyncio.to_thread(group.failover)
    deadline = time.monotonic() + FAILOVER_SECONDS
    while not await _round_trip(layer, "sentinel-test"):
        assert time.monotonic() < deadline, "the channel layer did not reach the new master"
        await asyncio.sleep(0.05)
    await layer.flush()


def test_the_settings_configure_channels_and_django_rq_to_follow_a_failover(sentinel_group, tmp_path):
    data_dir = tmp_path / "data"
    dumped = _settings_dump(stratus_env(STRATUS_DATA_DIR=str(data_dir), **sentinel_group.env()))

    assert dumped["managed"] is False  # make run starts no Redis of its own
    assert not (data_dir / "redis").exists()
    layer = RedisChannelLayer(**dumped["channel_layers"]["default"]["CONFIG"])
    queue = Queue("sentinel-test", connection=get_redis_connection(dumped["rq_queues"]["default"]))
    queue.enqueue("builtins.print", "before")
    assert queue.connection.wait(1, 5000) == 1  # on the replica before the master dies

    asyncio.run(_channel_layer_across(sentinel_group, layer))

    def enqueued() -> bool:
        try:
            queue.enqueue("builtins.print", "after")
        except redis.RedisError:
            return False
        return True

    wait_until(enqueued, timeout=FAILOVER_SECONDS, what="django-rq's connection enqueuing on the new master")
    new_master = sentinel_group.node(sentinel_group.replica_port)
    assert new_master.llen("rq:queue:sentinel-test") == 2


# ---- a whole stack ----------------------------------------------------------------------


def _completed(observer: redis.Redis, request_id: str) -> bytes | None:
    """The id of ``request_id``'s successful invocation record, once a host has written it."""
    try:
        entries = observer.xrange(RECORDS_STREAM)
    except redis.RedisError:
        return None
    for entry_id, fields in entries:
        record = json.loads(fields[b"r"])
        if record.get("request_id") == request_id and record.get("outcome") == "success":
            return entry_id
    return None


def _consumed(observer: redis.Redis, entry_id: bytes) -> bool:
    """The metrics consumer has read and acknowledged the stream up to ``entry_id``."""
    try:
        group = next(g for g in observer.xinfo_groups(RECORDS_STREAM) if g["name"] == b"metrics")
    except (redis.RedisError, StopIteration):
        return False
    delivered = tuple(int(part) for part in group["last-delivered-id"].split(b"-"))
    return group["pending"] == 0 and delivered >= tuple(int(part) for part in entry_id.split(b"-"))


def _marked_alive_since(observer: redis.Redis, role: str, since: float) -> bool:
    """A ``role`` process (scheduler, poller) has marked itself alive since ``since``."""
    try:
        return any(mark["at"] > since for mark in alive_list(observer, role))
    except redis.RedisError:
        return False


def _heartbeat_back(observer: redis.Redis, key: str, field: str | None = None) -> None:
    """Delete what a heartbeat writes on the new master and wait for it to be written again."""
    if field is None:
        observer.delete(key)
        wait_until(lambda: observer.exists(key), timeout=FAILOVER_SECONDS, what=f"{key} written again")
    else:
        observer.hdel(key, field)
        wait_until(
            lambda: observer.hexists(key, field), timeout=FAILOVER_SECONDS, what=f"{key} written again"
        )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_stack_on_sentinel_invokes_sync_and_async_across_a_failover(
    sentinel_group, sentinel_settings, python_runtime
):
    observer = redis_client_new(sentinel_settings)
    with stratus_stack(workers=1, STRATUS_WEB_PROCESSES="1", **sentinel_group.env()) as stack:
        key = (stack["key"]["AccessKeyId"], stack["key"]["SecretAccessKey"])
        lam = aws_client("lambda", stack["url"], key, read_timeout=15)
        lam.create_function(
            FunctionName="echo",
            Runtime=python_runtime,
            Role=ROLE,
            Handler="lambda_function.handler",
            Code={
                "ZipFile": make_zip(
                    {"lambda_function.py": "def handler(event, context):\n    return event\n"}
                )
            },
        )

        def invoked(n: int) -> bool:
            try:
                return lam.invoke(FunctionName="echo", Payload=json.dumps({"n": n}))["Payload"].read() == (
                    json.dumps({"n": n}).encode()
                )
            except Exception:  # the API answering 5xx, or dropping the request, mid-failover
                return False

        def event_sent() -> str | None:
            try:
                response = lam.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")
            except Exception:
                return None
            return response["ResponseMetadata"]["RequestId"]

        assert invoked(1)
        before = event_sent()
        assert before is not None
        wait_until(
            lambda: _completed(observer, before), timeout=60, what="the event sent before the failover"
        )

        sentinel_group.failover()
        promoted_at = time.time()

        wait_until(
            lambda: invoked(2), timeout=FAILOVER_SECONDS, what="a synchronous invoke after the failover"
        )
        after = wait_until(event_sent, timeout=FAILOVER_SECONDS, what="an event accepted after the failover")
        entry = wait_until(
            lambda: _completed(observer, after), timeout=60, what="the event sent after the failover"
        )
        wait_until(lambda: _consumed(observer, entry), timeout=60, what="the metrics consumer reading on")
        assert observer.connection_pool.get_master_address()[1] == sentinel_group.replica_port
        # The host's background threads write to the new master: its heartbeat, RQ's scheduler
        # (which builds a connection pool of its own from the host's client).
        host = observer.keys(ALIVE_PREFIX + "*")[0].decode().removeprefix(ALIVE_PREFIX)
        _heartbeat_back(observer, ALIVE_PREFIX + host)
        _heartbeat_back(observer, SCHEDULER_KEY_TEMPLATE % host, "last_heartbeat")
        for role in ("scheduler", "poller"):
            wait_until(
                lambda role=role: _marked_alive_since(observer, role, promoted_at),
                timeout=FAILOVER_SECONDS,
                what=f"the {role} marking itself alive on the new master",
            )
        assert all(worker.poll() is None for worker in stack["workers"]), "the host exited"
