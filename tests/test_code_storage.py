"""Code artifacts live where ``STRATUS_CODE_STORAGE`` says: in the database by default (rows of
1 MiB, streamed a row at a time), in S3 or any S3-compatible store, or in the data dir; and
``manage.py stratus_code_move`` carries every artifact from one to another, checked by hash."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import subprocess
import sys
import tracemalloc
import urllib.request
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.code_storage import code_storage_config
from dashboard.managed_redis import free_port
from functions_app.models import CodeArtifact, StoredChunk, StoredFile
from functions_app.runtime.code_cache import CodeUnavailable, code_dir
from functions_app.services.artifacts import (
    Copied,
    artifact_copy,
    artifact_storage_name,
    artifacts_copy,
    storage_open,
)
from functions_app.storage import CHUNK_BYTES, DatabaseStorage
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024
CHUNK_QUERY = f'FROM "{StoredChunk._meta.db_table}"'


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _artifact(data: bytes) -> CodeArtifact:
    """An artifact row for ``data``, its bytes stored nowhere yet."""
    sha256 = _sha256(data)
    return CodeArtifact.objects.create(
        sha256=sha256, size=len(data), unzipped_size=len(data), storage_name=artifact_storage_name(sha256)
    )


def _zip_with_payload(handler: str, payload: bytes) -> bytes:
    """A package whose ``payload.bin`` is stored, not deflated: random bytes keep it as large
    as they are, so the zip spans several chunks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", handler, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("payload.bin", payload, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


# --- DatabaseStorage ----------------------------------------------------------------------


def test_it_keeps_a_file_as_rows_of_one_mib_and_reads_it_back():
    storage = DatabaseStorage()
    data = os.urandom(2 * MIB + MIB // 2)

    name = storage.save("round/trip.bin", ContentFile(data))

    assert name == "round/trip.bin"
    chunks = list(StoredChunk.objects.filter(file_id=name).order_by("index").values_list("index", "data"))
    assert [index for index, _ in chunks] == [0, 1, 2]
    assert [len(chunk) for _, chunk in chunks] == [CHUNK_BYTES, CHUNK_BYTES, MIB // 2]
    assert b"".join(bytes(chunk) for _, chunk in chunks) == data
    assert storage.size(name) == len(data) == StoredFile.objects.get(name=name).size
    assert storage.exists(name)
    with storage.open(name) as handle:
        assert handle.read() == data


def test_it_reads_odd_sizes_and_seeks_across_chunks():
    storage = DatabaseStorage()
    data = os.urandom(2 * MIB + 12_345)
    name = storage.save("odd/reads.bin", ContentFile(data))

    with storage.open(name, "rb") as handle:
        assert handle.read(1000) == data[:1000]
        assert handle.read(CHUNK_BYTES + 7) == data[1000 : 1000 + CHUNK_BYTES + 7]  # over a boundary
        assert handle.tell() == 1000 + CHUNK_BYTES + 7
        handle.seek(CHUNK_BYTES - 3)
        assert handle.read(10) == data[CHUNK_BYTES - 3 : CHUNK_BYTES + 7]
        handle.seek(-5, io.SEEK_END)
        assert handle.read() == data[-5:]
        assert handle.read(10) == b""
        handle.seek(2 * CHUNK_BYTES)
        handle.seek(-1, io.SEEK_CUR)
        assert handle.read(2) == data[2 * CHUNK_BYTES - 1 : 2 * CHUNK_BYTES + 1]
        handle.seek(0)
        pieces = []
        while piece := handle.read(333_333):
            pieces.append(piece)
        assert b"".join(pieces) == data
        assert handle.size == len(data)


def test_it_keeps_an_empty_file():
    storage = DatabaseStorage()

    name = storage.save("empty.bin", ContentFile(b""))

    assert storage.exists(name) and storage.size(name) == 0
    assert not StoredChunk.objects.filter(file_id=name).exists()
    with storage.open(name) as handle:
        assert handle.read() == b""


def test_it_deletes_a_file_with_its_chunks():
    storage = DatabaseStorage()
    name = storage.save("gone/soon.bin", ContentFile(os.urandom(MIB + 1)))
    assert StoredChunk.objects.filter(file_id=name).count() == 2

    storage.delete(name)

    assert not storage.exists(name)
    assert not StoredChunk.objects.filter(file_id=name).exists()
    storage.delete(name)  # deleting what is not there is no error, as for Django's other storages


def test_it_gives_a_second_file_of_the_same_name_another_name():
    storage = DatabaseStorage()

    first = storage.save("twice/same.zip", ContentFile(b"first"))
    second = storage.save("twice/same.zip", ContentFile(b"second"))

    assert first == "twice/same.zip"
    assert second != first
    assert second.startswith("twice/same_") and second.endswith(".zip")
    with storage.open(first) as handle:
        assert handle.read() == b"first"
    with storage.open(second) as handle:
        assert handle.read() == b"second"


def test_it_raises_file_not_found_for_a_missing_name():
    storage = DatabaseStorage()

    with pytest.raises(FileNotFoundError):
        storage.open("no/such.zip")
    with pytest.raises(FileNotFoundError):
        storage.size("no/such.zip")
    assert not storage.exists("no/such.zip")


def test_it_refuses_to_open_a_stored_file_for_writing():
    storage = DatabaseStorage()
    name = storage.save("read/only.bin", ContentFile(b"x"))

    for mode in ("wb", "ab", "r+b"):
        with pytest.raises(ValueError, match="read-only"):
            storage.open(name, mode)


def test_it_lists_a_directory():
    storage = DatabaseStorage()
    for name in (
        "dir/a.bin",
        "dir/b.bin",
        "dir/sub/c.bin",
        "dir/sub/deeper/d.bin",
        "top.bin",
        "directory.bin",
    ):
        storage.save(name, ContentFile(b"x"))

    assert storage.listdir("dir") == (["sub"], ["a.bin", "b.bin"])
    assert storage.listdir("dir/") == (["sub"], ["a.bin", "b.bin"])
    assert storage.listdir("dir/sub") == (["deeper"], ["c.bin"])
    assert storage.listdir("") == (["dir"], ["directory.bin", "top.bin"])
    assert storage.listdir("nothing") == ([], [])


def test_it_lists_a_directory_by_its_exact_name():
    storage = DatabaseStorage()
    storage.save("dir/lower.bin", ContentFile(b"x"))
    storage.save("DIR/upper.bin", ContentFile(b"x"))

    assert storage.listdir("dir") == ([], ["lower.bin"])


def test_the_default_storage_is_the_database():
    name = default_storage.save("default/here.bin", ContentFile(b"in the database"))

    assert settings.STRATUS_CODE_STORAGE == "database"
    assert isinstance(default_storage._wrapped, DatabaseStorage)
    assert StoredFile.objects.filter(name=name).exists()
    assert not (settings.DATA_DIR / "artifacts" / name).exists()


# --- Streaming ----------------------------------------------------------------------------


def test_it_streams_an_artifact_into_a_file_one_chunk_per_query(tmp_path):
    data = os.urandom(3 * MIB + 77)
    name = default_storage.save("stream/artifact.zip", ContentFile(data))
    target = tmp_path / "copy.zip"

    with CaptureQueriesContext(connection) as queries, open(target, "wb") as sink:
        artifact_copy(name, sink)

    assert target.read_bytes() == data
    chunk_reads = [query["sql"] for query in queries.captured_queries if CHUNK_QUERY in query["sql"]]
    assert len(chunk_reads) == 4, chunk_reads  # one row per query, never the whole file at once


def _copy_peak(name: str, target) -> int:
    """Fetch artifact ``name`` as a host does, into ``target``; the most memory it held at once."""
    tracemalloc.start()
    try:
        with open(target, "wb") as sink:
            artifact_copy(name, sink)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_it_streams_without_holding_the_whole_artifact_in_memory(tmp_path):
    data = os.urandom(16 * MIB)
    name = default_storage.save("stream/large.zip", ContentFile(data))
    del data

    peak = _copy_peak(name, tmp_path / "copy.zip")

    assert (tmp_path / "copy.zip").stat().st_size == 16 * MIB
    assert peak < 6 * MIB, f"copying a 16 MiB artifact peaked at {peak / MIB:.1f} MiB"


def test_a_worker_unzips_a_multi_chunk_artifact_from_the_database(tmp_path):
    payload = os.urandom(2 * MIB)
    package = _zip_with_payload("def handler(event, context): return 1\n", payload)
    name = default_storage.save(artifact_storage_name(_sha256(package)), ContentFile(package))

    target = code_dir(tmp_path, sha256=_sha256(package), storage_name=name, fetch=artifact_copy)

    assert (target / "payload.bin").read_bytes() == payload


def test_a_worker_refuses_an_artifact_altered_in_the_database(tmp_path):
    package = _zip_with_payload("def handler(event, context): return 1\n", os.urandom(MIB + 1))
    sha256 = _sha256(package)
    name = default_storage.save(artifact_storage_name(sha256), ContentFile(package))
    chunk = StoredChunk.objects.get(file_id=name, index=1)
    altered = bytearray(chunk.data)
    altered[100] ^= 0xFF  # in the stored payload: the zip still opens, its bytes are not the same
    chunk.data = bytes(altered)
    chunk.save()

    with pytest.raises(CodeUnavailable, match="arrived with SHA-256"):
        code_dir(tmp_path, sha256=sha256, storage_name=name, fetch=artifact_copy)
    assert list((tmp_path / "code").iterdir()) == []


def test_a_worker_reports_a_chunk_missing_from_the_database(tmp_path):
    package = _zip_with_payload("def handler(event, context): return 1\n", os.urandom(MIB + 1))
    sha256 = _sha256(package)
    name = default_storage.save(artifact_storage_name(sha256), ContentFile(package))
    StoredChunk.objects.filter(file_id=name, index=1).delete()

    with pytest.raises(CodeUnavailable, match="chunk 1 is missing"):
        code_dir(tmp_path, sha256=sha256, storage_name=name, fetch=artifact_copy)
    with pytest.raises(CodeUnavailable, match="FileNotFoundError"):
        code_dir(tmp_path, sha256="d" * 64, storage_name="dd/none.zip", fetch=artifact_copy)
    assert list((tmp_path / "code").iterdir()) == []


def test_a_chunk_cut_short_is_an_error_not_a_shorter_file():
    name = DatabaseStorage().save("cut/short.bin", ContentFile(os.urandom(2 * MIB + 10)))
    chunk = StoredChunk.objects.get(file_id=name, index=0)
    chunk.data = bytes(chunk.data)[:1000]
    chunk.save()

    with DatabaseStorage().open(name) as handle, pytest.raises(OSError, match="chunk 0 .* cut short"):
        handle.read()


# --- Through the Lambda API ----------------------------------------------------------------

PAYLOAD_HASH_PY = """
import hashlib, os

def handler(event, context):
    with open(os.path.join(os.path.dirname(__file__), "payload.bin"), "rb") as payload:
        return {"sha256": hashlib.sha256(payload.read()).hexdigest()}
"""


@pytest.mark.usefixtures("stratus_workers")
def test_a_function_keeps_its_code_in_the_database_and_runs_it(create_function, lambda_client):
    payload = os.urandom(MIB + MIB // 2)
    package = _zip_with_payload(PAYLOAD_HASH_PY, payload)

    created = create_function("stored-in-db", Code={"ZipFile": package}, Timeout=30)

    artifact = CodeArtifact.objects.get(sha256=_sha256(package))
    assert created["CodeSize"] == len(package)
    assert StoredFile.objects.get(name=artifact.storage_name).size == len(package)
    assert StoredChunk.objects.filter(file_id=artifact.storage_name).count() == 2
    assert not (settings.DATA_DIR / "artifacts" / artifact.storage_name).exists()

    response = lambda_client.invoke(FunctionName="stored-in-db", Payload=b"{}")
    assert "FunctionError" not in response, response["Payload"].read()
    assert json.loads(response["Payload"].read()) == {"sha256": _sha256(payload)}

    location = lambda_client.get_function(FunctionName="stored-in-db")["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=30) as download:
        assert download.read() == package


# --- S3 through django-storages, against moto's server ------------------------------------


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    """moto's S3 in a process of its own, as any S3-compatible store would be (and so that
    what it holds is not counted in this process's memory)."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert server.poll() is None, f"moto_server exited:\n{log.read_text()}"
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
        except OSError:
            return False
        return True

    try:
        wait_until(answering, timeout=30, what="moto_server answering")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_bucket(moto_url, monkeypatch, tmp_path, settings):
    """A fresh bucket in moto's S3, and the environment a host would have to reach it."""
    monkeypatch.setenv("STRATUS_S3_ENDPOINT_URL", moto_url)
    settings.STRATUS_S3_ENDPOINT_URL = moto_url  # as settings read it at start
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"stratus-code-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    return bucket, client


def test_it_copies_artifacts_to_s3_and_back(s3_bucket):
    bucket, client = s3_bucket
    database = DatabaseStorage()
    data = os.urandom(2 * MIB + 5)
    name = artifact_storage_name(_sha256(data))
    database.save(name, ContentFile(data))
    s3 = storage_open(f"s3://{bucket}/code/artifacts")

    assert artifacts_copy(database, s3, [name, "ff/missing.zip"]) == Copied(
        copied=1, missing=["ff/missing.zip"]
    )

    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"code/artifacts/{name}"]
    assert client.get_object(Bucket=bucket, Key=keys[0])["Body"].read() == data
    assert s3.exists(name) and s3.size(name) == len(data)
    assert artifacts_copy(database, s3, [name]) == Copied()  # already there

    database.delete(name)
    assert artifacts_copy(s3, database, [name]) == Copied(copied=1)
    with database.open(name) as handle:
        assert handle.read() == data


def test_the_s3_storage_stores_an_artifact_under_its_own_name(s3_bucket):
    bucket, client = s3_bucket
    s3 = storage_open(f"s3://{bucket}")

    first = s3.save("ab/same.zip", ContentFile(b"one"))
    second = s3.save("ab/same.zip", ContentFile(b"one"))

    assert first == second == "ab/same.zip"  # names are hashes: no "_a1b2c3" copies pile up
    assert [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["ab/same.zip"]


def _default_storage_s3(settings, bucket: str) -> None:
    """Point ``STORAGES["default"]`` at the bucket, as STRATUS_CODE_STORAGE=s3://... would."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": code_storage_config(
            f"s3://{bucket}/code",
            data_dir=str(settings.DATA_DIR),
            endpoint_url=os.environ["STRATUS_S3_ENDPOINT_URL"],
        ),
    }


def test_a_worker_fetches_code_from_s3(s3_bucket, tmp_path, settings):
    bucket, client = s3_bucket
    _default_storage_s3(settings, bucket)
    package = _zip_with_payload("def handler(event, context): return 1\n", os.urandom(MIB + 3))
    sha256 = _sha256(package)
    name = default_storage.save(artifact_storage_name(sha256), ContentFile(package))
    assert type(default_storage._wrapped).__name__ == "S3Storage"

    target = code_dir(tmp_path, sha256=sha256, storage_name=name, fetch=artifact_copy)

    assert (target / "lambda_function.py").exists()
    assert [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]] == [f"code/{name}"]
    assert not StoredFile.objects.exists()


def test_a_worker_fetches_code_from_s3_without_holding_it_whole_in_memory(s3_bucket, tmp_path, settings):
    bucket, _ = s3_bucket
    _default_storage_s3(settings, bucket)
    name = default_storage.save("ab/large.zip", ContentFile(os.urandom(64 * MIB)))

    peak = _copy_peak(name, tmp_path / "copy.zip")

    assert (tmp_path / "copy.zip").stat().st_size == 64 * MIB
    # s3transfer keeps parts in flight (up to about 30 MiB); what must not happen is the whole
    # artifact at once, as S3File's in-memory spool does without a max_memory_size.
    assert peak < 40 * MIB, f"fetching a 64 MiB artifact from S3 peaked at {peak / MIB:.1f} MiB"


# --- stratus_code_move ---------------------------------------------------------------------


@pytest.fixture
def data_dir_artifacts():
    """The data dir's ``artifacts/`` as releases before the database storage kept it; emptied
    afterwards, since the data dir lives for the whole session."""
    storage = FileSystemStorage(location=str(settings.DATA_DIR / "artifacts"))
    saved: list[str] = []

    def save(data: bytes, *, artifact: CodeArtifact | None = None) -> CodeArtifact:
        """Keep ``data`` there as ``artifact`` (by default, a new artifact of these bytes)."""
        artifact = artifact or _artifact(data)
        saved.append(storage.save(artifact.storage_name, ContentFile(data)))
        return artifact

    yield save
    for name in saved:
        storage.delete(name)


def test_it_moves_every_artifact_from_the_data_dir_into_the_database(data_dir_artifacts):
    packages = [os.urandom(size) for size in (10, MIB + 1, 2 * MIB + 3)]
    artifacts = [data_dir_artifacts(data) for data in packages]
    output = io.StringIO()

    call_command("stratus_code_move", "--from", "filesystem", "--to", "database", stdout=output)

    database = DatabaseStorage()
    for artifact in artifacts:
        with database.open(artifact.storage_name) as handle:
            assert _sha256(handle.read()) == artifact.sha256
    assert "3 artifact(s) copied to database; 0 were there already." in output.getvalue()

    again = io.StringIO()
    call_command("stratus_code_move", "--from", "filesystem", "--to", "database", stdout=again)
    assert "0 artifact(s) copied to database; 3 were there already." in again.getvalue()


def test_it_moves_to_the_configured_storage_by_default(data_dir_artifacts):
    artifact = data_dir_artifacts(b"to the default")

    call_command("stratus_code_move", "--from", "filesystem", stdout=io.StringIO())

    assert DatabaseStorage().exists(artifact.storage_name)


def test_it_refuses_an_artifact_that_does_not_hash_to_its_name(data_dir_artifacts):
    good = data_dir_artifacts(b"good bytes")
    bad = _artifact(b"the bytes it was stored with")
    data_dir_artifacts(b"bytes altered on disk", artifact=bad)

    with pytest.raises(
        CommandError, match=f"1 not matching their hash in filesystem \\(not copied\\): {bad.storage_name}"
    ):
        call_command("stratus_code_move", "--from", "filesystem", "--to", "database", stdout=io.StringIO())
    assert not DatabaseStorage().exists(bad.storage_name)

    # Once the file is mended, moving again completes what the first run started.
    (settings.DATA_DIR / "artifacts" / bad.storage_name).write_bytes(b"the bytes it was stored with")
    call_command("stratus_code_move", "--from", "filesystem", "--to", "database", stdout=io.StringIO())
    database = DatabaseStorage()
    assert database.exists(good.storage_name) and database.exists(bad.storage_name)


def test_it_reports_an_artifact_in_neither_storage(data_dir_artifacts):
    present = data_dir_artifacts(b"present")
    lost = _artifact(b"lost")
    output = io.StringIO()

    with pytest.raises(CommandError, match=f"Artifacts 1 in neither storage: {lost.storage_name}"):
        call_command("stratus_code_move", "--from", "filesystem", "--to", "database", stdout=output)

    assert DatabaseStorage().exists(present.storage_name)
    assert "1 artifact(s) copied to database" in output.getvalue()


def test_it_refuses_to_move_a_storage_onto_itself():
    with pytest.raises(CommandError, match="name the same storage"):
        call_command("stratus_code_move", "--from", "database", "--to", "database")


def test_it_refuses_a_storage_it_does_not_know():
    with pytest.raises(CommandError, match="expected 'database', 'filesystem' or 's3://BUCKET"):
        call_command("stratus_code_move", "--from", "ftp://elsewhere", "--to", "database")


def test_an_upgrade_copies_the_data_dirs_artifacts_into_the_database(data_dir_artifacts):
    migration = importlib.import_module("functions_app.migrations.0013_stored_files")
    artifacts = [data_dir_artifacts(os.urandom(size)) for size in (100, MIB + 9)]

    migration.artifacts_from_data_dir(apps, None)

    for artifact in artifacts:
        with DatabaseStorage().open(artifact.storage_name) as handle:
            assert _sha256(handle.read()) == artifact.sha256


# --- code_storage_config ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["database", "", "  database  "])
def test_the_database_is_the_default_storage(value):
    assert code_storage_config(value, data_dir="/srv/stratus") == {
        "BACKEND": "functions_app.storage.DatabaseStorage"
    }


def test_filesystem_means_the_data_dirs_artifacts():
    assert code_storage_config("filesystem", data_dir="/srv/stratus") == {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": "/srv/stratus/artifacts"},
    }


@pytest.mark.parametrize(
    ("value", "bucket", "location"),
    [
        ("s3://code", "code", ""),
        ("s3://code/", "code", ""),
        ("s3://code/stratus", "code", "stratus"),
        ("s3://code/stratus/prod/", "code", "stratus/prod"),
    ],
)
def test_s3_names_a_bucket_and_a_prefix(value, bucket, location):
    config = code_storage_config(value, data_dir="/srv/stratus")

    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    options = config["OPTIONS"]
    assert (options["bucket_name"], options["location"]) == (bucket, location)
    # Names are content hashes, so a second save of a name is the same bytes: overwrite it
    # rather than pile up copies; and leave access to the bucket's own policy.
    assert options["file_overwrite"] is True and options["default_acl"] is None
    assert "endpoint_url" not in options


def test_s3_takes_an_endpoint_for_a_store_that_is_not_aws():
    config = code_storage_config("s3://code/p", data_dir="/srv", endpoint_url="http://minio:9000")

    assert config["OPTIONS"]["endpoint_url"] == "http://minio:9000"


@pytest.mark.parametrize(
    "value", ["s3://", "s3:///prefix", "ftp://code", "Database", "files", "/srv/artifacts"]
)
def test_an_unknown_storage_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match="STRATUS_CODE_STORAGE"):
        code_storage_config(value, data_dir="/srv/stratus")
