"""The runtimes this host can run, discovered once per process.

``python3.X`` for each Python 3 interpreter found (the one Stratus runs on always counts),
``nodejsN.x`` when Node.js is installed, and ``provided.al2023`` / ``provided.al2`` for a
custom ``bootstrap`` executable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Runtime:
    name: str
    family: str  # "python", "nodejs" or "provided"
    executable: str | None  # interpreter path; None for provided runtimes

    @property
    def needs_handler(self) -> bool:
        return self.family != "provided"


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
    return Runtime(name=f"nodejs{match.group(1)}.x", family="nodejs", executable=node)


@lru_cache(maxsize=1)
def available_runtimes() -> dict[str, Runtime]:
    runtimes: dict[str, Runtime] = {}
    own = f"python3.{sys.version_info.minor}"
    runtimes[own] = Runtime(name=own, family="python", executable=sys.executable)
    for minor in range(8, 20):
        name = f"python3.{minor}"
        path = shutil.which(name)
        if path and name not in runtimes:
            runtimes[name] = Runtime(name=name, family="python", executable=path)
    node = _node_runtime()
    if node:
        runtimes[node.name] = node
    for name in ("provided.al2023", "provided.al2"):
        runtimes[name] = Runtime(name=name, family="provided", executable=None)
    return dict(sorted(runtimes.items()))


def runtime_get(name: str) -> Runtime | None:
    return available_runtimes().get(name)


def default_python_runtime() -> str:
    return f"python3.{sys.version_info.minor}"
