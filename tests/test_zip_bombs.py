"""A zip that unzips to gigabytes is refused at once, whether its headers admit the size or lie
about it, on every path that takes a package: the Lambda API, the dashboard, and the worker
that unzips a stored artifact."""

from __future__ import annotations

import hashlib
import io
import struct
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from functions_app.errors import InvalidParameterValue
from functions_app.models import LATEST, Function, FunctionVersion
from functions_app.runtime.code_cache import ArtifactRefused, _unzip, code_dir
from functions_app.services.artifacts import artifact_copy
from functions_app.validation import UNZIPPED_MAX_BYTES, ZIP_ENTRIES_MAX, zip_check
from tests.conftest import function_made, lambda_role, make_zip

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024
BOMB_SIZE = 2048 * MIB  # what the bomb really unzips to
LIE = 1000  # what the lying bomb's headers say it unzips to
TOO_LARGE = f"Unzipped size must be smaller than {UNZIPPED_MAX_BYTES} bytes"
RUNTIME = f"python3.{sys.version_info.minor}"
STORED, DEFLATED = 0, 8


def _zip(members: list[tuple[bytes, int, bytes, int, int]]) -> bytes:
    """A zip of ``(name, method, compressed bytes, crc, declared size)`` members, written by
    hand so a header can say anything."""
    locals_, centrals, offset = [], [], 0
    for name, method, compressed, crc, declared in members:
        fields = (method, 0, 0x21, crc, len(compressed), declared, len(name), 0)  # 0x21: 1980-01-01
        local = struct.pack("<4s3H2H3L2H", b"PK\x03\x04", 20, 0, *fields) + name + compressed
        centrals.append(
            struct.pack("<4s4H2H3L5H2L", b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0o644 << 16, offset)
            + name
        )
        locals_.append(local)
        offset += len(local)
    central = b"".join(centrals)
    count = min(len(members), 0xFFFF)  # past that a real zip needs zip64; zipfile reads on regardless
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), offset, 0)
    return b"".join(locals_) + central + end


@pytest.fixture(scope="session")
def zeros_deflated() -> tuple[bytes, int]:
    """A raw deflate stream of BOMB_SIZE zero bytes (about 2 MB) and their CRC-32.

    A full flush byte-aligns the stream and resets the compressor, so every MiB compresses to
    the same bytes: one MiB is compressed and its bytes repeated.
    """
    zeros = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = block * (BOMB_SIZE // MIB) + compressor.flush()
    crc = 0
    for _ in range(BOMB_SIZE // MIB):
        crc = zlib.crc32(zeros, crc)
    return stream, crc


@pytest.fixture(scope="session")
def honest_bomb(zeros_deflated) -> bytes:
    stream, crc = zeros_deflated
    return _zip([(b"lambda_function.py", DEFLATED, stream, crc, BOMB_SIZE)])


@pytest.fixture(scope="session")
def lying_bomb(zeros_deflated) -> bytes:
    """The same bomb with only the declared size (local header and central directory) changed."""
    stream, crc = zeros_deflated
    return _zip([(b"lambda_function.py", DEFLATED, stream, crc, LIE)])


def _refusal(data: bytes) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(InvalidParameterValue) as raised:
        zip_check(data)
    return raised.value.message, time.monotonic() - started


def _files_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def _admin_client() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="admin", password="pw-for-tests-1"))
    return client


# --- zip_check --------------------------------------------------------------------------------


def test_it_builds_bombs_of_two_gigabytes_in_two_megabytes(zeros_deflated, honest_bomb, lying_bomb):
    stream, _ = zeros_deflated

    assert zlib.decompressobj(-15).decompress(stream[: 64 * 1024], MIB) == bytes(MIB)
    assert len(honest_bomb) < 3 * MIB
    assert len(lying_bomb) == len(honest_bomb)


def test_it_refuses_a_bomb_that_declares_its_size_before_decompressing(honest_bomb):
    message, seconds = _refusal(honest_bomb)

    assert message == TOO_LARGE
    assert seconds < 1.0


def test_it_refuses_a_bomb_whose_headers_understate_its_size(lying_bomb):
    message, seconds = _refusal(lying_bomb)

    assert message == (
        "Could not unzip uploaded file: lambda_function.py is corrupt. "
        "Please check your file, then try to upload again."
    )
    assert seconds < 1.0


def test_it_stops_a_lie_at_the_declared_size_even_just_under_the_limit(zeros_deflated):
    stream, crc = zeros_deflated
    declared = UNZIPPED_MAX_BYTES - MIB
    bomb = _zip([(b"lambda_function.py", DEFLATED, stream, crc, declared)])

    message, seconds = _refusal(bomb)

    assert "lambda_function.py is corrupt" in message
    assert seconds < 2.0  # one pass over at most the 250 MB it declared, never the 2 GB it holds


def test_it_refuses_members_whose_declared_sizes_add_up_past_the_limit():
    quarter = UNZIPPED_MAX_BYTES // 4
    members = [(f"{index}.bin".encode(), DEFLATED, b"", 0, quarter) for index in range(5)]

    message, seconds = _refusal(_zip(members))

    assert message == TOO_LARGE
    assert seconds < 1.0


def test_it_refuses_more_entries_than_it_unzips_before_parsing_them():
    empty = [(f"{index}".encode(), STORED, b"", 0, 0) for index in range(ZIP_ENTRIES_MAX + 1)]

    message, seconds = _refusal(_zip(empty))

    assert message == (
        f"The deployment package has more than {ZIP_ENTRIES_MAX} entries; Stratus unzips at most {ZIP_ENTRIES_MAX}."
    )
    assert seconds < 1.0


def test_it_refuses_a_member_whose_bytes_do_not_match_its_crc():
    body = b"def handler(event, context):\n    return 1\n"
    good = _zip([(b"lambda_function.py", STORED, body, zlib.crc32(body), len(body))])
    bad = _zip([(b"lambda_function.py", STORED, body, zlib.crc32(body) ^ 1, len(body))])

    assert zip_check(good).unzipped_size == len(body)
    assert "lambda_function.py is corrupt" in _refusal(bad)[0]


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_it_refuses_a_member_whose_compressed_bytes_are_damaged(method):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr("lambda_function.py", "print('hello world')\n" * 1000)
    package = bytearray(buffer.getvalue())
    package[60:70] = b"\xff" * 10  # inside the member's compressed bytes

    assert "lambda_function.py is corrupt" in _refusal(bytes(package))[0]


def test_it_refuses_an_encrypted_member_with_a_clear_message():
    body = b"x = 1\n"
    package = bytearray(_zip([(b"lambda_function.py", STORED, body, zlib.crc32(body), len(body))]))
    central = package.index(b"PK\x01\x02")
    package[6:8] = package[central + 8 : central + 10] = struct.pack("<H", 0x1)  # "encrypted"

    assert _refusal(bytes(package))[0] == (
        "Could not unzip uploaded file: lambda_function.py is encrypted. Upload a zip without a password."
    )


def test_it_still_takes_a_normal_package_and_measures_it():
    package = make_zip({"lambda_function.py": "x = 1\n", "lib/data.txt": "a" * 10_000})

    checked = zip_check(package)

    assert checked.data == package
    assert checked.unzipped_size == 6 + 10_000


# --- The Lambda API ---------------------------------------------------------------------------


@pytest.mark.parametrize("bomb", ["honest_bomb", "lying_bomb"])
def test_it_refuses_a_bomb_on_create_function_quickly_and_creates_nothing(lambda_client, request, bomb):
    started = time.monotonic()
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.create_function(
            FunctionName="bomb",
            Runtime=RUNTIME,
            Role=lambda_role(),
            Handler="lambda_function.handler",
            Code={"ZipFile": request.getfixturevalue(bomb)},
        )

    assert time.monotonic() - started < 3.0  # the request carries 3 MB of base64 JSON
    assert lambda_client.list_functions(FunctionVersion="ALL")["Functions"] == []
    assert not FunctionVersion.objects.exists()


@pytest.mark.parametrize("bomb", ["honest_bomb", "lying_bomb"])
def test_it_refuses_a_bomb_on_update_function_code_and_keeps_the_code(
    lambda_client, create_function, request, bomb
):
    created = create_function("hello")

    started = time.monotonic()
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_code(FunctionName="hello", ZipFile=request.getfixturevalue(bomb))

    assert time.monotonic() - started < 3.0
    configuration = lambda_client.get_function_configuration(FunctionName="hello")
    assert configuration["CodeSha256"] == created["CodeSha256"]
    assert configuration["RevisionId"] == created["RevisionId"]


# --- The dashboard ----------------------------------------------------------------------------


@pytest.mark.parametrize("bomb", ["honest_bomb", "lying_bomb"])
def test_it_refuses_a_bomb_uploaded_to_create_a_function_in_the_dashboard(request, bomb):
    client = _admin_client()

    response = client.post(
        "/functions/new",
        {
            "name": "bomb",
            "runtime": RUNTIME,
            "memory": "128",
            "timeout": "3",
            "source": "zip",
            "zip": SimpleUploadedFile("bomb.zip", request.getfixturevalue(bomb), "application/zip"),
        },
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert TOO_LARGE in html or "lambda_function.py is corrupt" in html
    assert not Function.objects.filter(name="bomb").exists()


@pytest.mark.parametrize("bomb", ["honest_bomb", "lying_bomb"])
def test_it_refuses_a_bomb_uploaded_over_a_functions_code_in_the_dashboard(request, bomb):
    function = function_made("hello")
    before = FunctionVersion.objects.get(function=function, version=LATEST).code_id
    client = _admin_client()

    response = client.post(
        "/functions/hello/action",
        {"action": "upload", "zip": SimpleUploadedFile("bomb.zip", request.getfixturevalue(bomb))},
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert TOO_LARGE in html or "lambda_function.py is corrupt" in html
    assert FunctionVersion.objects.get(function=function, version=LATEST).code_id == before


# --- The worker's code cache ------------------------------------------------------------------


def test_it_unzips_no_more_of_a_lying_artifact_than_it_declares(lying_bomb, tmp_path):
    target = tmp_path / "package"
    target.mkdir()

    started = time.monotonic()
    with pytest.raises(ArtifactRefused, match="lambda_function.py is corrupt"):
        _unzip(io.BytesIO(lying_bomb), target)

    assert time.monotonic() - started < 1.0
    assert _files_size(target) <= LIE


def test_it_unzips_nothing_of_an_artifact_that_declares_too_much(honest_bomb, tmp_path):
    target = tmp_path / "package"
    target.mkdir()

    with pytest.raises(ArtifactRefused, match=f"declares {BOMB_SIZE} unzipped bytes"):
        _unzip(io.BytesIO(honest_bomb), target)

    assert list(target.iterdir()) == []


def test_it_refuses_an_artifact_declaring_more_than_the_limit_it_is_given(tmp_path):
    package = make_zip({"a.txt": "a" * 600, "b.txt": "b" * 600})
    target = tmp_path / "package"
    target.mkdir()

    with pytest.raises(ArtifactRefused, match="declares 1200 unzipped bytes"):
        _unzip(io.BytesIO(package), target, limit=1000)

    assert _files_size(target) == 0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_it_leaves_nothing_in_the_cache_for_a_refused_artifact(lying_bomb, tmp_path):
    name = default_storage.save("artifacts/test-zip-bomb.zip", ContentFile(lying_bomb))
    try:
        with pytest.raises(ArtifactRefused):
            code_dir(tmp_path, sha256=_sha256(lying_bomb), storage_name=name, fetch=artifact_copy)
    finally:
        default_storage.delete(name)

    assert list((tmp_path / "code").iterdir()) == []


def test_it_still_unzips_a_normal_artifact_with_its_modes(tmp_path):
    body = b"#!/bin/sh\necho hi\n"
    members = [
        (b"bootstrap", STORED, body, zlib.crc32(body), len(body)),
        (b"lib/data.txt", STORED, b"data", zlib.crc32(b"data"), 4),
        (b"../escape.txt", STORED, b"x", zlib.crc32(b"x"), 1),
    ]
    package = bytearray(_zip(members))
    # Make bootstrap executable: the external attributes sit at offset 38 of its central record.
    central = package.index(b"PK\x01\x02")
    package[central + 38 : central + 42] = struct.pack("<L", 0o100755 << 16)
    name = default_storage.save("artifacts/test-zip-normal.zip", ContentFile(bytes(package)))
    try:
        target = code_dir(tmp_path, sha256=_sha256(bytes(package)), storage_name=name, fetch=artifact_copy)
    finally:
        default_storage.delete(name)

    assert (target / "bootstrap").read_bytes() == body
    assert (target / "bootstrap").stat().st_mode & 0o777 == 0o755
    assert (target / "lib" / "data.txt").stat().st_mode & 0o777 == 0o644
    assert (target / "lib").stat().st_mode & 0o777 == 0o755
    assert sorted(path.name for path in (tmp_path / "code").iterdir()) == [_sha256(bytes(package))]
