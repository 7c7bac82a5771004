"""A pytest plugin that gives the test session its own Redis and data dir.

It runs before pytest-django reads the settings, so ``REDIS_URL`` and ``STRATUS_DATA_DIR``
point at a Redis on a free port that this session started (with a password, as the
managed one has) and at a temporary directory. The suite never touches a Redis it did
not start, and never the developer's ``./var``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from dashboard.managed_redis import free_port, redis_start

_state: dict = {}


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    data_dir = Path(tempfile.mkdtemp(prefix="stratus-test-"))
    port = free_port()
    password = secrets.token_urlsafe(16)
    process = redis_start(directory=data_dir / "redis", port=port, password=password, quiet=True)
    _state.update(process=process, data_dir=data_dir)
    os.environ["STRATUS_DATA_DIR"] = str(data_dir)
    os.environ["REDIS_URL"] = f"redis://:{password}@127.0.0.1:{port}/0"
    os.environ.pop("SECRET_KEY", None)
    return (yield)


def pytest_unconfigure(config):
    process = _state.pop("process", None)
    if process is not None:
        process.terminate()
        process.wait(timeout=10)
    data_dir = _state.pop("data_dir", None)
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)
