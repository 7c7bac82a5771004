"""The runtimes this host can run, discovered once per process.

``python3.X`` for each Python 3 interpreter found (the one Stratus runs on always counts),
``nodejsN.x`` when Node.js is installed, and ``provided.al2023`` / ``provided.al2`` for a
custom ``bootstrap`` executable in the zip, which runs against the host's base userland.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Runtime:
    name: str
    family: str  # "python", "nodejs" or "provided"
    executable: str | None  # the real interpreter binary; None for provided runtimes
    prefix: str | None = None  # directory the interpreter needs, when it lives outside /usr

    @property
    def minor(self) -> int | None:
        """3.X's X for a Python runtime."""
        return int(self.name.rsplit(".", 1)[1]) if self.family == "python" else None

    @property
    def needs_handler(self) -> bool:
        return self.family != "provided"

    @property
    def execution_env(self) -> str | None:
        return None if self.family == "provided" else f"AWS_Lambda_{self.name}"

    def command(self, runtime_dir: str, task_root: str) -> list[str]:
        """The command that starts an environment, with paths as the sandbox sees them."""
        if self.family == "python":
            # -S: no site-packages import at start, the fastest cold start; /var/task and the
            # bootstrap's own directory are put on sys.path by the bootstrap.
            return [self.executable or "python3", "-S", f"{runtime_dir}/python_bootstrap.py"]
        if self.family == "nodejs":
            return [self.executable or "node", f"{runtime_dir}/node_bootstrap.js"]
        return [f"{task_root}/bootstrap"]

    @property
    def ro_binds(self) -> tuple[str, ...]:
        if self.prefix and self.prefix != "/usr" and not self.prefix.startswith("/usr/"):
            return (self.prefix,)
        return ()


def _python_runtime(name: str, path: str) -> Runtime | None:
    try:
        out = subprocess.run(
            [
                path,
                "-S",
                "-c",
                "import sys, os; print(sys.base_prefix); print(os.path.realpath(sys.executable))",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) < 2 or not out[0]:
        return None
    return Runtime(name=name, family="python", executable=out[1], prefix=out[0])


def _own_python() -> Runtime:
    base = getattr(sys, "_base_executable", sys.executable)
    return Runtime(
        name=f"python3.{sys.version_info.minor}",
        family="python",
        executable=os.path.realpath(base),
        prefix=sys.base_prefix,
    )


def _node_runtime() -> Runtime | None:
    node = shutil.which("node")
    if not node:
        return None
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.", version.strip())
    if not match:
        return None
    real = os.path.realpath(node)
    prefix = os.path.dirname(os.path.dirname(real))
    return Runtime(name=f"nodejs{match.group(1)}.x", family="nodejs", executable=real, prefix=prefix)


_probe_lock = threading.Lock()


def available_runtimes() -> dict[str, Runtime]:
    """The runtimes this host has, probed once (a few subprocesses): a burst of first cold
    starts on as many threads waits for one probe instead of running one each."""
    with _probe_lock:
        return _runtimes_probed()


@lru_cache(maxsize=1)
def _runtimes_probed() -> dict[str, Runtime]:
    own = _own_python()
    runtimes: dict[str, Runtime] = {own.name: own}
    for minor in range(8, 20):
        name = f"python3.{minor}"
        path = shutil.which(name)
        if path and name not in runtimes:
            found = _python_runtime(name, path)
            if found:
                runtimes[name] = found
    node = _node_runtime()
    if node:
        runtimes[node.name] = node
    for name in ("provided.al2023", "provided.al2"):
        runtimes[name] = Runtime(name=name, family="provided", executable=None)
    return dict(sorted(runtimes.items()))


def runtime_get(name: str) -> Runtime | None:
    return available_runtimes().get(name)
