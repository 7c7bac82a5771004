"""The AWS SDK for Python, provided to Python functions as AWS's runtimes provide it.

Code that works on Lambda does ``import boto3`` without shipping it. The worker's own boto3
and botocore (pinned in pyproject.toml, pure Python) and what they import are bound
read-only into each Python sandbox at ``/var/lang/lib/python3.X/site-packages``, which the
bootstrap puts on ``sys.path`` after ``/var/task``: a function's own copy still wins. Nothing
is copied; a bind mount per package costs the sandbox's start next to nothing.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

# boto3 and everything it imports, as top-level module names.
SDK_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def site_packages(python_minor: int) -> str:
    """Where a Python 3.<minor> sandbox finds the SDK (AWS's path for its runtimes' packages)."""
    return f"/var/lang/lib/python3.{python_minor}/site-packages"


@lru_cache(maxsize=1)
def _sources() -> tuple[Path, ...]:
    """The host paths of the SDK's modules (package directories or single files)."""
    found = []
    for name in SDK_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        found.append(origin.parent if origin.name == "__init__.py" else origin)
    return tuple(found)


def sdk_binds(python_minor: int) -> tuple[tuple[str, str], ...]:
    """(host path, sandbox path) read-only binds that give a Python sandbox the SDK."""
    target = site_packages(python_minor)
    return tuple((str(source), f"{target}/{source.name}") for source in _sources())
