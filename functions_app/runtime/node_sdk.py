"""The AWS SDK for JavaScript v3, provided to Node.js functions as AWS's runtimes provide it.

Code that works on Lambda does ``require("@aws-sdk/client-sqs")`` or
``import { SQSClient } from "@aws-sdk/client-sqs"`` without shipping the SDK. ``make install``
puts pinned clients (``node_sdk/package-lock.json`` beside this file) in the venv's
``node-sdk/node_modules``, and each Node.js sandbox gets that directory read-only at
``/var/node_modules``.

Why there and not at AWS's ``/var/runtime/node_modules``: Node looks for a bare specifier in
the ``node_modules`` of the importing file's directory and of each directory above it, so from a
handler in ``/var/task`` it tries ``/var/task/node_modules`` (the function's own copy, which so
wins), then ``/var/node_modules``. CommonJS ``require`` and ES module ``import`` walk the same
way, but only ``require`` also reads ``NODE_PATH``: AWS's runtime teaches its ES module loader
to read it as well, which would take a loader hook here (an extra thread in every Node
sandbox), whereas ``/var/node_modules`` needs nothing. ``/var/runtime`` is besides the worker's
read-only copy of the bootstraps, with no directory inside for a mount.

Without npm at install time the directory is absent: Node.js functions still run, an import
of the SDK fails as it would for any missing package, and the worker warns once.
"""

from __future__ import annotations

import logging
import sys
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger("stratus.node_sdk")

# A node_modules directory that module resolution reaches from /var/task, after the function's own.
SANDBOX_NODE_MODULES = "/var/node_modules"


def host_node_modules() -> Path:
    """Where ``make install`` puts the SDK: under the venv the worker runs from."""
    return Path(sys.prefix) / "node-sdk" / "node_modules"


@lru_cache(maxsize=1)
def _source() -> Path | None:
    """The installed SDK's directory, or None (with a warning, once per process)."""
    path = host_node_modules()
    if (path / "@aws-sdk").is_dir():
        return path
    logger.warning(
        "The AWS SDK for JavaScript is not installed at %s (`make install` with npm on PATH "
        "installs it): Node.js functions run without it",
        path,
    )
    return None


def sdk_binds() -> tuple[tuple[str, str], ...]:
    """(host path, sandbox path) read-only binds that give a Node.js sandbox the SDK."""
    source = _source()
    return ((str(source), SANDBOX_NODE_MODULES),) if source is not None else ()
