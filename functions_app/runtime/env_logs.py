"""The reader of an execution environment's output: its stdout and stderr, as lines."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time

_LOG_LINE_MAX = 256 * 1024


def _now_ms() -> int:
    return int(time.time() * 1000)


class LogReader(threading.Thread):
    """Reads the environment's stdout and stderr (one pipe) into timestamped lines.

    ``since`` asks the reader, through a wake-up pipe, to confirm that it has read
    everything already in the pipe; the runtime flushes its output before it posts a
    response, so that is every line the invocation printed.
    """

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True, name="env-logs")
        self.fd = fd
        self.lines: list[tuple[int, str]] = []
        self._partial = b""
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        self._flushed = threading.Event()
        self.closed = threading.Event()

    def run(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self.fd, self._wake_read], [], [])
                if self.fd in ready:
                    data = os.read(self.fd, 65536)
                    if not data:
                        break
                    self._take(data)
                    continue
                if self._wake_read in ready:
                    os.read(self._wake_read, 4096)
                    # Nothing was readable in this round, so the pipe is drained.
                    still, _, _ = select.select([self.fd], [], [], 0)
                    if not still:
                        self._flushed.set()
        except OSError:
            pass
        finally:
            self._take(b"", final=True)
            self.closed.set()
            self._flushed.set()
            os.close(self._wake_read)
            os.close(self._wake_write)
            with contextlib.suppress(OSError):
                os.close(self.fd)

    def _take(self, data: bytes, *, final: bool = False) -> None:
        now = _now_ms()
        buffer = self._partial + data
        *complete, self._partial = buffer.split(b"\n")
        if final and self._partial:
            complete.append(self._partial)
            self._partial = b""
        if len(self._partial) > _LOG_LINE_MAX:
            complete.append(self._partial)
            self._partial = b""
        if complete:
            with self._lock:
                self.lines.extend((now, line.decode("utf-8", "replace")) for line in complete)

    def mark(self) -> int:
        with self._lock:
            return len(self.lines)

    def since(self, mark: int, *, wait_seconds: float = 0.5) -> list[tuple[int, str]]:
        """Lines from ``mark`` on, after everything already in the pipe has been read."""
        if not self.closed.is_set():
            self._flushed.clear()
            with contextlib.suppress(OSError):
                os.write(self._wake_write, b"x")
            self._flushed.wait(wait_seconds)
        with self._lock:
            lines = self.lines[mark:]
            # Keep memory bounded for long-lived environments.
            if len(self.lines) > 10000:
                del self.lines[:mark]
        return lines
