"""Nothing of the platform is readable at rest: a private data dir, encrypted environment variables."""

from __future__ import annotations

import hashlib
import json
import stat
import uuid
import zlib
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from dashboard.data_dir import data_dir_create, data_dir_secure
from functions_app.models import FunctionVersion
from tests.conftest import make_zip, wait_until

# Answers with a hash of the variable, so the value itself never travels in a payload or a log.
SECRET_HASH_PY = """
import hashlib, os

def handler(event, context):
    return {"sha256": hashlib.sha256(os.environ["SECRET"].encode()).hexdigest()}
"""


def _invoked(lambda_client, create_function, name: str, secret: str) -> dict:
    create_function(
        name,
        Code={"ZipFile": make_zip({"lambda_function.py": SECRET_HASH_PY})},
        Environment={"Variables": {"SECRET": secret}},
    )
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in response
    return json.loads(response["Payload"].read())


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _redis_persisted(client: redis.Redis, *, timeout: float = 30) -> Path:
    """Redis's directory once its AOF holds every write so far and an uncompressed dump.rdb
    holds the whole dataset (a compressed RDB could hide a value from a byte scan)."""
    wait_until(
        lambda: not client.info("persistence").get("aof_buffer_length"),
        timeout=timeout,
        what="Redis writing its AOF buffer",
    )
    client.config_set("rdbcompression", "no")
    try:
        client.save()
    finally:
        client.config_set("rdbcompression", "yes")
    return Path(client.config_get("dir")["dir"])


def _files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and not path.is_symlink()]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("stratus_workers")
def test_it_keeps_the_data_dir_and_everything_written_there_private(lambda_client, create_function):
    _invoked(lambda_client, create_function, "private-files", "not-a-secret")
    redis_dir = _redis_persisted(_redis())
    data_dir = settings.DATA_DIR

    assert _mode(data_dir) == 0o700
    assert redis_dir.is_relative_to(data_dir)
    written = [path for path in data_dir.rglob("*") if "worker-cache" not in path.relative_to(data_dir).parts]
    if connection.vendor == "sqlite":
        assert Path(connection.settings_dict["NAME"]) in written
    assert any(path.parent == redis_dir / "appendonlydir" for path in written)
    assert any(path.is_relative_to(data_dir / "artifacts") for path in written)
    loose = {
        str(path.relative_to(data_dir)): oct(_mode(path))
        for path in written
        if not path.is_symlink() and _mode(path) != (0o700 if path.is_dir() else 0o600)
    }
    assert loose == {}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("stratus_workers")
def test_it_keeps_environment_variables_out_of_every_file_in_plain_text(lambda_client, create_function):
    secret = f"SECRET_MARKER_{uuid.uuid4().hex}"

    result = _invoked(lambda_client, create_function, "env-at-rest", secret)

    assert result == {"sha256": hashlib.sha256(secret.encode()).hexdigest()}
    configuration = lambda_client.get_function_configuration(FunctionName="env-at-rest")
    assert configuration["Environment"] == {"Variables": {"SECRET": secret}}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.environment FROM functions_app_functionversion v "
            "JOIN functions_app_function f ON f.id = v.function_id WHERE f.name = %s",
            ["env-at-rest"],
        )
        (stored,) = cursor.fetchone()
    assert stored.startswith("gAAAAA")  # a Fernet token, where a JSONField held {"SECRET": ...}
    assert secret not in stored
    assert FunctionVersion.objects.get(function__name="env-at-rest").environment == {"SECRET": secret}

    client = _redis()
    redis_dir = _redis_persisted(client)
    # The scan does see what Redis writes in plain text: the invocation record names the function.
    assert any(b"env-at-rest" in path.read_bytes() for path in _files_under(redis_dir))
    # RQ keeps a job's arguments zlib-compressed, where a byte scan could not see them.
    for key in client.scan_iter("rq:job:*"):
        data = client.hget(key, "data") if client.type(key) == b"hash" else None
        assert data is None or secret.encode() not in zlib.decompress(data)
    holding = [str(path) for path in _files_under(settings.DATA_DIR) if secret.encode() in path.read_bytes()]
    assert holding == []


def test_it_tightens_a_data_dir_left_readable(tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "artifacts" / "ab").mkdir(parents=True)
    (data_dir / "artifacts").chmod(0o750)
    (data_dir / "artifacts" / "ab").chmod(0o755)
    (data_dir / "artifacts" / "ab" / "code.zip").write_bytes(b"zip")
    (data_dir / "artifacts" / "ab" / "code.zip").chmod(0o644)
    (data_dir / "worker-cache" / "code").mkdir(parents=True)
    (data_dir / "worker-cache" / "code" / "lambda_function.py").write_text("")
    (data_dir / "worker-cache" / "code" / "lambda_function.py").chmod(0o644)
    (data_dir / "worker-cache").chmod(0o755)
    (data_dir / "link").symlink_to(data_dir / "worker-cache" / "code" / "lambda_function.py")
    data_dir.chmod(0o755)

    assert data_dir_create(data_dir) == data_dir
    assert _mode(data_dir) == 0o700
    changed = data_dir_secure(data_dir)

    assert sorted(changed) == [
        data_dir / "artifacts",
        data_dir / "artifacts" / "ab",
        data_dir / "artifacts" / "ab" / "code.zip",
    ]
    assert _mode(data_dir / "artifacts") == 0o700
    assert _mode(data_dir / "artifacts" / "ab") == 0o700
    assert _mode(data_dir / "artifacts" / "ab" / "code.zip") == 0o600
    # The sandbox's uid reads the code cache through bind mounts, so it is left as it was.
    assert _mode(data_dir / "worker-cache") == 0o755
    assert _mode(data_dir / "worker-cache" / "code" / "lambda_function.py") == 0o644
    assert data_dir_secure(data_dir) == []
