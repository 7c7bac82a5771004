"""One execution environment: a sandboxed runtime process and its lifecycle.

INIT starts the sandbox and waits until the runtime first asks for an event (its static
code is loaded by then) or reports an init error. INVOKE hands it one event at a time and
waits for the response, the error, the deadline or the process's death. SHUTDOWN kills
every process of the environment's cgroup. An environment that timed out, ran out of
memory or crashed is never reused. Between invokes the environment is frozen: nothing in
it runs until the next event is handed over.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from functions_app.runtime import node_sdk, python_sdk
from functions_app.runtime.cgroups import CgroupLimits, cgroup_name
from functions_app.runtime.env_logs import LogReader
from functions_app.runtime.env_outcomes import (
    InitFailed,
    error_outcome,
    exit_outcome,
    failure_outcome,
    timeout_outcome,
)
from functions_app.runtime.languages import Runtime, runtime_get
from functions_app.runtime.netns import SandboxNetwork
from functions_app.runtime.runtime_api import RuntimeAnswer, RuntimeEvent, endpoint_hostname
from functions_app.runtime.sandbox import (
    RUNTIME_DIR,
    TASK_ROOT,
    SandboxSpec,
    sandbox_command,
    sandbox_enabled,
)
from functions_app.runtime.sandbox_host import SandboxHost
from functions_app.runtime.spec import FunctionSpec, InvokeOutcome, InvokeRequest
from functions_app.runtime.tmp_volume import TmpVolume

logger = logging.getLogger("stratus.environment")

INIT_TIMEOUT_SECONDS = 10.0


def _now_ms() -> int:
    return int(time.time() * 1000)


def _sdk_binds(runtime: Runtime) -> tuple[tuple[str, str], ...]:
    """The read-only binds of the AWS SDK for ``runtime``'s language, as AWS's runtimes include it."""
    if runtime.family == "python" and runtime.minor:
        return python_sdk.sdk_binds(runtime.minor)
    if runtime.family == "nodejs":
        return node_sdk.sdk_binds()
    return ()


def _bootstrap_problem(code_dir: Path) -> str | None:
    """Why a custom runtime's /var/task/bootstrap cannot run (AWS's wording), or None."""
    bootstrap = code_dir / "bootstrap"
    if not bootstrap.is_file():
        return f"Couldn't find valid bootstrap(s): [{TASK_ROOT}/bootstrap /opt/bootstrap]"
    if not bootstrap.stat().st_mode & 0o111:
        return f"fork/exec {TASK_ROOT}/bootstrap: permission denied"
    return None


def _etc_hosts_pipe(runtime_api_hostname: str) -> int:
    """The read end of a pipe holding the sandbox's /etc/hosts: the host's, plus the name of
    the environment's Runtime API endpoint on 127.0.0.1. bwrap reads it once, at start."""
    try:
        host_entries = Path("/etc/hosts").read_bytes()[:16384]
    except OSError:
        host_entries = b"127.0.0.1\tlocalhost\n"
    if host_entries and not host_entries.endswith(b"\n"):
        host_entries += b"\n"
    read_fd, write_fd = os.pipe()
    # Well under a pipe's 64 KB buffer, so this never blocks.
    os.write(write_fd, host_entries + f"127.0.0.1\t{runtime_api_hostname}\n".encode())
    os.close(write_fd)
    return read_fd


class ExecutionEnvironment:
    def __init__(
        self,
        spec: FunctionSpec,
        *,
        host: SandboxHost,
        code_dir: Path,
        runtime_dir: Path,
        initialization_type: str = "on-demand",
    ) -> None:
        self.spec = spec
        self.id = uuid.uuid4().hex
        self.log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]{self.id}"
        self.initialization_type = initialization_type
        self.state = "new"
        self.invocations = 0
        self.created_at = time.monotonic()
        self.last_used = time.monotonic()
        self._host = host
        self._network: SandboxNetwork | None = None
        self._tmp: TmpVolume | None = None
        self._code_dir = code_dir
        self._runtime_dir = runtime_dir
        # Events for the runtime's GET /next; None wakes it to find the environment shut down.
        self._events: queue.Queue[RuntimeEvent | None] = queue.Queue()
        # What the environment waits on: ("next",), ("response", body, content type),
        # ("error", body, error type), ("init_error", body, error type), ("exit", status).
        self._signals: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._current_request: str | None = None
        self._answered = False
        self._lock = threading.Lock()
        self._frozen = False  # by _freeze, under _lock once the environment is running
        self._process: subprocess.Popen[bytes] | None = None
        self._cgroup: CgroupLimits | None = None
        self._logs: LogReader | None = None
        self._endpoint: str | None = None

    # ---- lifecycle -------------------------------------------------------------------

    def _environment_variables(self) -> dict[str, str]:
        spec = self.spec
        runtime = runtime_get(spec.runtime)
        task_root = TASK_ROOT if sandbox_enabled() else str(self._code_dir)
        runtime_root = RUNTIME_DIR if sandbox_enabled() else str(self._runtime_dir)
        variables = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin",
            "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": "/tmp",
        }
        variables.update(spec.environment)
        variables.update(
            {
                "AWS_LAMBDA_RUNTIME_API": self._endpoint or "",
                "_HANDLER": spec.handler,
                "LAMBDA_TASK_ROOT": task_root,
                "LAMBDA_RUNTIME_DIR": runtime_root,
                "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
                "AWS_LAMBDA_INITIALIZATION_TYPE": self.initialization_type,
                "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
                "AWS_REGION": spec.region,
                "AWS_ENDPOINT_URL": self._host.endpoint_url,
                "AWS_DEFAULT_REGION": spec.region,
            }
        )
        if runtime is not None and runtime.execution_env:
            variables["AWS_EXECUTION_ENV"] = runtime.execution_env
        variables.update(self._host.credentials(spec))
        return variables

    def start(self) -> float:
        """INIT. Returns the init duration in ms, or raises InitFailed."""
        runtime = runtime_get(self.spec.runtime)
        if runtime is None:
            raise InitFailed(
                failure_outcome(
                    "Runtime.InvalidRuntime",
                    f"Runtime {self.spec.runtime} is not available on this worker",
                    "init_error",
                ),
                0.0,
            )
        if runtime.family == "provided":
            problem = _bootstrap_problem(self._code_dir)
            if problem:
                # As AWS: a custom runtime without an executable bootstrap cannot start at
                # all, which is not the same fault as a runtime that started and exited.
                raise InitFailed(failure_outcome("Runtime.InvalidEntrypoint", problem, "init_error"), 0.0)
        self.state = "initializing"
        started = time.monotonic()
        hosts_fd = self._endpoint_open()
        self._cgroup = CgroupLimits.create(name=cgroup_name(self.id), memory_mb=self.spec.memory_size)
        if sandbox_enabled():
            self._tmp = TmpVolume.create(size_mb=self.spec.ephemeral_storage, work_dir=self._host.tmp_dir)
        launch = sandbox_command(
            SandboxSpec(
                command=runtime.command(RUNTIME_DIR, TASK_ROOT),
                environment=self._environment_variables(),
                code_dir=self._code_dir,
                runtime_dir=self._runtime_dir,
                extra_ro_binds=runtime.ro_binds,
                tmp_size_mb=self.spec.ephemeral_storage,
                memory_mb=self.spec.memory_size,
                cgroup_procs=self._cgroup.procs_files() if self._cgroup is not None else (),
                etc_hosts_fd=hosts_fd,
                netns_fd=self._network.netns_fd if self._network is not None else None,
                tmp_device=self._tmp.device if self._tmp is not None else None,
                tmp_mount_point=str(self._host.tmp_mount_point),
                sdk_binds=_sdk_binds(runtime),
            )
        )
        read_fd, write_fd = os.pipe()
        try:
            self._process = subprocess.Popen(
                launch.argv,
                env=launch.environment,
                cwd=launch.cwd,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                preexec_fn=launch.preexec,
                start_new_session=True,
                pass_fds=launch.fds,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(read_fd)
            os.close(write_fd)
            self.shutdown()
            raise InitFailed(
                failure_outcome(
                    "Runtime.InvalidEntrypoint", f"Could not start the runtime: {exc}", "init_error"
                ),
                0.0,
            ) from None
        finally:
            launch.close_fds()
            if self._tmp is not None:
                self._tmp.release()  # mounted in the sandbox now, which holds it from here on
        os.close(write_fd)
        self._logs = LogReader(read_fd)
        self._logs.start()
        threading.Thread(target=self._watch_exit, daemon=True, name="env-exit").start()

        deadline = started + INIT_TIMEOUT_SECONDS
        while True:
            remaining = deadline - time.monotonic()
            try:
                kind, *details = self._signals.get(timeout=max(0.0, remaining))
            except queue.Empty:
                duration = (time.monotonic() - started) * 1000
                self.shutdown()
                raise InitFailed(
                    failure_outcome(
                        "Sandbox.Timedout",
                        f"INIT timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds",
                        "timeout",
                    ),
                    duration,
                ) from None
            duration = (time.monotonic() - started) * 1000
            if kind == "next":
                self.state = "idle"
                self._freeze()
                return duration
            if kind == "init_error":
                body, error_type = details
                self._wait_exit(0.5)
                logs = self._logs.since(0)
                self.shutdown()
                outcome = error_outcome(body, error_type, status="init_error", lost=True)
                outcome.log_lines = logs
                raise InitFailed(outcome, duration)
            if kind == "exit":
                outcome = self._exit_outcome(details[0], request_id=None)
                outcome.log_lines = self._logs.since(0)
                self.shutdown()
                raise InitFailed(outcome, duration)

    def _endpoint_open(self) -> int | None:
        """Give the environment its Runtime API endpoint; returns an /etc/hosts fd when the
        endpoint is a name only the sandbox's own /etc/hosts can resolve."""
        if self._host.own_network:
            # 127.0.0.1:9001 in a network of its own: whoever connects there is this environment.
            self._network = self._host.network_take()
            self._endpoint = self._host.api.attach(self, self._network.runtime_listener)
            return None
        # Sharing the host's network, the endpoint is a plain host:port whose name only this
        # sandbox's /etc/hosts resolves: every Runtime API client accepts that.
        self._endpoint = self._host.api.register(self, by_host=sandbox_enabled())
        hostname = endpoint_hostname(self._endpoint)
        return _etc_hosts_pipe(hostname) if hostname else None

    def _freeze(self) -> None:
        if self._cgroup is not None and not self._frozen:
            self._cgroup.freeze()
            self._frozen = True

    def _thaw(self) -> None:
        if self._cgroup is not None and self._frozen:
            self._cgroup.thaw()
            self._frozen = False

    def _watch_exit(self) -> None:
        process = self._process
        if process is None:
            return
        status = process.wait()
        self._signals.put(("exit", status))
        self._events.put(None)

    def _wait_exit(self, seconds: float) -> None:
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=seconds)

    def shutdown(self) -> None:
        """SHUTDOWN: kill every process of the environment; release its endpoint, network,
        /tmp and cgroup."""
        self.state = "dead"
        self._events.put(None)
        if self._network is not None:
            self._host.network_release(self._network)
            self._network = None
        elif self._endpoint:
            self._host.api.unregister(self._endpoint)
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill()
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        if self._cgroup is not None:
            self._cgroup.remove()
        if self._tmp is not None:
            self._tmp.release()
        if self._logs is not None:
            self._logs.closed.wait(1)

    @property
    def alive(self) -> bool:
        return self.state in {"idle", "busy"} and self._process is not None and self._process.poll() is None

    # ---- invoke ----------------------------------------------------------------------

    def invoke(self, request: InvokeRequest, *, rest: bool = True) -> InvokeOutcome:
        """Run ``request``'s event. The environment is frozen again afterwards unless ``rest``
        is false: then the caller calls ``rest()`` once it has answered, off the caller's clock."""
        assert self._logs is not None
        with self._lock:
            self.state = "busy"
            self._thaw()
        self.invocations += 1
        if self._cgroup is not None:
            self._cgroup.peak_reset()
        mark = self._logs.mark()
        timeout = float(self.spec.timeout)
        started = time.monotonic()
        deadline_ms = _now_ms() + int(timeout * 1000)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": request.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": request.invoked_function_arn,
            "Lambda-Runtime-Trace-Id": request.trace_id
            or f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            "Content-Type": "application/json",
        }
        if request.client_context:
            headers["Lambda-Runtime-Client-Context"] = request.client_context
        with self._lock:
            self._current_request = request.request_id
            self._answered = False
        self._events.put((request.request_id, request.payload, headers))
        deadline = started + timeout
        outcome: InvokeOutcome | None = None
        while outcome is None:
            remaining = deadline - time.monotonic()
            try:
                kind, *details = self._signals.get(timeout=max(0.0, remaining))
            except queue.Empty:
                outcome = timeout_outcome(request.request_id, timeout)
                break
            if kind == "response":
                body, _ = details
                outcome = InvokeOutcome(
                    payload=body, function_error=None, error_type=None, duration_ms=0, max_memory_mb=0
                )
            elif kind == "error":
                body, error_type = details
                outcome = error_outcome(body, error_type, status="error", lost=False)
            elif kind == "exit":
                outcome = self._exit_outcome(details[0], request_id=request.request_id)
            # "next" is the runtime asking for the following event; it changes nothing here.
        outcome.duration_ms = (time.monotonic() - started) * 1000
        outcome.max_memory_mb = self._max_memory_mb()
        if outcome.environment_lost:
            self._wait_exit(0.2)
        lines = self._logs.since(mark)
        if outcome.status == "timeout":
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            lines.append(
                (_now_ms(), f"{stamp} {request.request_id} Task timed out after {timeout:.2f} seconds")
            )
        outcome.log_lines = lines
        with self._lock:
            self._current_request = None
        self.last_used = time.monotonic()
        if outcome.environment_lost:
            self.shutdown()
        else:
            self.state = "idle"
            if rest:
                self.rest()
        return outcome

    def rest(self) -> None:
        """Freeze the environment if it is still idle (another invoke may have taken it since)."""
        with self._lock:
            if self.state == "idle":
                self._freeze()

    def _max_memory_mb(self) -> int:
        peak = self._cgroup.peak_bytes() if self._cgroup is not None else self._tree_rss_bytes()
        return max(1, math.ceil((peak or 0) / (1024 * 1024)))

    def _tree_rss_bytes(self) -> int:
        """Peak RSS of the process tree, from /proc, when no cgroup is available."""
        if self._process is None:
            return 0
        total = 0
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
        pending = [self._process.pid]
        while pending:
            pid = pending.pop()
            pending.extend(children.get(pid, []))
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
        return total

    def _exit_outcome(self, status: int, *, request_id: str | None) -> InvokeOutcome:
        out_of_memory = (
            self._cgroup.oom_kills() > 0 if self._cgroup is not None else status == -signal.SIGKILL
        )
        return exit_outcome(
            status, request_id=request_id, out_of_memory=out_of_memory, memory_size=self.spec.memory_size
        )

    # ---- the Runtime API's calls (from the server's threads) -------------------------

    def runtime_next(self) -> RuntimeEvent | None:
        self._signals.put(("next",))
        event = self._events.get()
        return event

    def _claim_answer(self, request_id: str) -> RuntimeAnswer | None:
        """None if ``request_id`` is the event in flight and still unanswered, else the refusal."""
        with self._lock:
            if request_id != self._current_request:
                return 400, {
                    "errorMessage": f"Invalid request ID: {request_id}",
                    "errorType": "InvalidRequestID",
                }
            if self._answered:
                return 403, {"errorMessage": "Response already sent", "errorType": "InvalidStateTransition"}
            self._answered = True
        return None

    def runtime_response(self, request_id: str, body: bytes, content_type: str) -> RuntimeAnswer:
        refusal = self._claim_answer(request_id)
        if refusal is not None:
            return refusal
        self._signals.put(("response", body, content_type))
        return 202, {"status": "OK"}

    def runtime_error(self, request_id: str, body: bytes, error_type: str | None) -> RuntimeAnswer:
        refusal = self._claim_answer(request_id)
        if refusal is not None:
            return refusal
        self._signals.put(("error", body, error_type))
        return 202, {"status": "OK"}

    def runtime_init_error(self, body: bytes, error_type: str | None) -> RuntimeAnswer:
        if self.state != "initializing":
            return 403, {"errorMessage": "Init error after init", "errorType": "InvalidStateTransition"}
        self._signals.put(("init_error", body, error_type))
        return 202, {"status": "OK"}
