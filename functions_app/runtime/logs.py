"""Lambda's platform log lines (START, END, REPORT) around a function's own output."""

from __future__ import annotations

import base64
import math

LOG_TAIL_BYTES = 4096


def billed_duration_ms(duration_ms: float, init_duration_ms: float | None) -> int:
    """Duration rounded up to the ms; INIT is billed too (as on AWS since August 2025)."""
    return math.ceil(duration_ms + (init_duration_ms or 0.0))


def report_line(
    *,
    request_id: str,
    duration_ms: float,
    init_duration_ms: float | None,
    memory_size: int,
    max_memory_mb: int,
    status: str | None = None,
) -> str:
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed_duration_ms(duration_ms, init_duration_ms)} ms\t"
        f"Memory Size: {memory_size} MB\tMax Memory Used: {max_memory_mb} MB\t"
    )
    if init_duration_ms is not None:
        line += f"Init Duration: {init_duration_ms:.2f} ms\t"
    if status:
        line += f"Status: {status}"
    return line


def invocation_log(
    *,
    request_id: str,
    version: str,
    started_ms: int,
    ended_ms: int,
    function_lines: list[tuple[int, str]],
    report: str,
) -> list[tuple[int, str]]:
    return [
        (started_ms, f"START RequestId: {request_id} Version: {version}"),
        *function_lines,
        (ended_ms, f"END RequestId: {request_id}"),
        (ended_ms, report),
    ]


def log_tail(lines: list[tuple[int, str]]) -> str:
    """X-Amz-Log-Result: base64 of the last 4 KB of the invocation's log."""
    text = "".join(f"{line}\n" for _, line in lines).encode()
    return base64.b64encode(text[-LOG_TAIL_BYTES:]).decode()
