"""How many workers to run: between a minimum and a maximum, following the queue's depth.

A backlog on the shared invocation queue that lasts two checks adds a worker; a queue that
stays empty for a minute lets the newest extra worker go. The decision is separate from
the process handling so it can be tested on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

SCALE_UP_CHECKS = 2
SCALE_DOWN_IDLE_SECONDS = 60.0


@dataclass
class WorkerScaler:
    minimum: int
    maximum: int
    backlog_checks: int = 0
    idle_since: float | None = field(default=None)

    def decide(self, *, running: int, queued: int, now: float | None = None) -> int:
        """+1 to add a worker, -1 to remove one, 0 to stay."""
        now = time.monotonic() if now is None else now
        if running < self.minimum:
            return 1
        if queued > 0:
            self.idle_since = None
            self.backlog_checks += 1
            if self.backlog_checks >= SCALE_UP_CHECKS and running < self.maximum:
                self.backlog_checks = 0
                return 1
            return 0
        self.backlog_checks = 0
        if self.idle_since is None:
            self.idle_since = now
        if running > self.minimum and now - self.idle_since >= SCALE_DOWN_IDLE_SECONDS:
            self.idle_since = now
            return -1
        return 0
