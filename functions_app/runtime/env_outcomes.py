"""What an execution environment answers when the function did not simply return.

Each builder makes the ``InvokeOutcome`` of one way an invoke or an INIT can end badly: an
error the runtime reported, the deadline passing, the runtime's process exiting (out of
memory or otherwise), or a failure before the function ran at all. The environment
(``environment.py``) decides which happened; these say what Lambda would answer.
"""

from __future__ import annotations

import contextlib
import json
import signal

from functions_app.runtime.spec import InvokeOutcome


class InitFailed(Exception):
    """INIT did not complete; ``outcome`` is what the invoke that needed it answers."""

    def __init__(self, outcome: InvokeOutcome, init_duration_ms: float) -> None:
        super().__init__(outcome.error_type)
        self.outcome = outcome
        self.init_duration_ms = init_duration_ms


def failure_outcome(error_type: str, message: str, status: str) -> InvokeOutcome:
    """An invoke that failed before or around the function: an Unhandled error, environment lost."""
    body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
    return InvokeOutcome(
        payload=body,
        function_error="Unhandled",
        error_type=error_type,
        duration_ms=0,
        max_memory_mb=0,
        environment_lost=True,
        status=status,
    )


def error_outcome(body: bytes, error_type: str | None, *, status: str, lost: bool) -> InvokeOutcome:
    """An error the runtime reported (``/error`` or ``/init/error``), typed from its header or
    else from the body's ``errorType``."""
    if not error_type:
        with contextlib.suppress(ValueError, AttributeError):
            error_type = json.loads(body).get("errorType")
    return InvokeOutcome(
        payload=body,
        function_error="Unhandled",
        error_type=error_type or "Runtime.Unknown",
        duration_ms=0,
        max_memory_mb=0,
        environment_lost=lost,
        status=status,
    )


def timeout_outcome(request_id: str, timeout: float) -> InvokeOutcome:
    message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
    return failure_outcome("Sandbox.Timedout", message, "timeout")


def exit_outcome(
    status: int, *, request_id: str | None, out_of_memory: bool, memory_size: int
) -> InvokeOutcome:
    """The runtime's process ended with ``status`` (negative: killed by that signal)."""
    prefix = f"RequestId: {request_id} Error: " if request_id else ""
    if out_of_memory:
        return failure_outcome(
            "Runtime.OutOfMemory",
            f"{prefix}Runtime exited with error: signal: killed (out of memory: the function used more than "
            f"its {memory_size} MB)",
            "oom",
        )
    reason = f"signal: {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
    return failure_outcome("Runtime.ExitError", f"{prefix}Runtime exited with error: {reason}", "crash")
