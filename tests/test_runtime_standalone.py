"""The runtime reads alone: every module of ``functions_app/runtime`` imports without Django.

The host's execution core (sandbox, environments, pool, Runtime API, worker loop) is handed
what it needs from the database; these tests hold it to that in a fresh interpreter with
no Django settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

WALK_AND_IMPORT = """
import importlib, json, pkgutil, sys
import functions_app.runtime as runtime
names = [module.name for module in pkgutil.walk_packages(runtime.__path__, "functions_app.runtime.")]
for name in names:
    importlib.import_module(name)
outside = sorted(
    name for name in sys.modules
    if name.startswith("functions_app") and not name.startswith("functions_app.runtime")
    and name != "functions_app"
)
print(json.dumps({"imported": names, "django": "django" in sys.modules, "outside": outside}))
"""


def _run_without_django(script: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_it_imports_every_runtime_module_without_django():
    result = _run_without_django(WALK_AND_IMPORT)

    assert "functions_app.runtime.worker" in result["imported"]
    assert "functions_app.runtime.environment" in result["imported"]
    assert result["django"] is False
    assert result["outside"] == []


def test_it_unzips_code_fetched_through_the_callable_it_is_given(tmp_path):
    script = f"""
import hashlib, io, json, sys, zipfile
from pathlib import Path
from functions_app.runtime.code_cache import CodeUnavailable, code_dir
archive = io.BytesIO()
with zipfile.ZipFile(archive, "w") as package:
    package.writestr("lambda_function.py", "def handler(event, context): return 1")
sha256 = hashlib.sha256(archive.getvalue()).hexdigest()
asked = []
def fetch(name, sink):
    asked.append(name)
    sink.write(archive.getvalue())
target = code_dir(Path({str(tmp_path)!r}), sha256=sha256, storage_name="ab/a.zip", fetch=fetch)
again = code_dir(Path({str(tmp_path)!r}), sha256=sha256, storage_name="ab/a.zip", fetch=fetch)
try:  # bytes that are not the artifact named are refused, and nothing of them is kept
    code_dir(Path({str(tmp_path)!r}), sha256="b" * 64, storage_name="bb/b.zip", fetch=fetch)
    altered = None
except CodeUnavailable as exc:
    altered = str(exc)
def unreachable(name, sink):
    raise ConnectionError("storage is down")
try:
    code_dir(Path({str(tmp_path)!r}), sha256="c" * 64, storage_name="cc/c.zip", fetch=unreachable)
    down = None
except CodeUnavailable as exc:
    down = str(exc)
print(json.dumps({{
    "files": sorted(path.name for path in target.iterdir()),
    "same": target == again,
    "asked": asked,
    "altered": altered,
    "down": down,
    "cached": sorted(path.name for path in (Path({str(tmp_path)!r}) / "code").iterdir()),
    "django": "django" in sys.modules,
}}))
"""
    result = _run_without_django(script)

    altered, down = result.pop("altered"), result.pop("down")
    assert "arrived with SHA-256" in altered
    assert "ConnectionError: storage is down" in down
    assert result == {
        "files": ["lambda_function.py"],
        "same": True,
        "asked": ["ab/a.zip", "bb/b.zip"],
        "cached": [result["cached"][0]],  # the one artifact that arrived whole; no leftovers
        "django": False,
    }
    assert len(result["cached"][0]) == 64


PROBED_ONCE = """
import json, threading
from functions_app.runtime import languages
barrier = threading.Barrier(32)
def first_cold_start():
    barrier.wait()
    languages.runtime_get("python3.11")
threads = [threading.Thread(target=first_cold_start) for _ in range(32)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"probes": languages._runtimes_probed.cache_info().misses}))
"""


def test_a_burst_of_first_cold_starts_probes_the_hosts_runtimes_once():
    """Each probe runs a few subprocesses; a hundred cold starts probing at once took 35 s."""
    assert _run_without_django(PROBED_ONCE) == {"probes": 1}
