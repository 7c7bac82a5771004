"""Code artifacts: zips stored once by SHA-256 through Django's storage API
(``STRATUS_CODE_STORAGE``: the database by default, see ``dashboard/code_storage.py``)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, default_storage
from django.db import close_old_connections
from django.utils.module_loading import import_string

from dashboard.code_storage import code_storage_config
from functions_app.errors import CodeStorageExceeded
from functions_app.models import CodeArtifact
from functions_app.selectors import total_code_size
from functions_app.storage import CHUNK_BYTES
from functions_app.validation import TOTAL_CODE_SIZE, CheckedZip


def artifact_storage_name(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}.zip"


def artifact_store(checked: CheckedZip) -> CodeArtifact:
    """Store the zip (if it is new) and return its artifact row. Call inside a transaction."""
    sha256 = hashlib.sha256(checked.data).hexdigest()
    existing = CodeArtifact.objects.filter(sha256=sha256).first()
    if existing is not None:
        if not default_storage.exists(existing.storage_name):
            default_storage.save(existing.storage_name, ContentFile(checked.data))
        return existing
    if total_code_size() + len(checked.data) > TOTAL_CODE_SIZE:
        raise CodeStorageExceeded("Code storage limit exceeded.")
    name = artifact_storage_name(sha256)
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(checked.data))
        if saved != name:  # a concurrent writer stored the same bytes first
            default_storage.delete(saved)
    return CodeArtifact.objects.create(
        sha256=sha256, size=len(checked.data), unzipped_size=checked.unzipped_size, storage_name=name
    )


def artifact_read(artifact: CodeArtifact) -> bytes:
    with default_storage.open(artifact.storage_name, "rb") as handle:
        return handle.read()


def artifact_copy(storage_name: str, sink: BinaryIO) -> None:
    """Stream a stored artifact into ``sink``: how a host fetches code it has not unzipped
    yet (``runtime/code_cache.CodeFetch``)."""
    try:
        with default_storage.open(storage_name, "rb") as handle:
            shutil.copyfileobj(handle, sink, CHUNK_BYTES)
    finally:
        close_old_connections()  # a host's threads must not keep a connection that went bad


def storage_config(value: str) -> dict:
    """The ``STORAGES`` entry a ``STRATUS_CODE_STORAGE`` value names, on this host."""
    return code_storage_config(
        value, data_dir=str(settings.DATA_DIR), endpoint_url=settings.STRATUS_S3_ENDPOINT_URL
    )


def storage_open(value: str) -> Storage:
    """The storage a ``STRATUS_CODE_STORAGE`` value names."""
    config = storage_config(value)
    return import_string(config["BACKEND"])(**config.get("OPTIONS", {}))


@dataclass
class Copied:
    copied: int = 0
    missing: list[str] = field(default_factory=list)  # in neither storage
    corrupt: list[str] = field(default_factory=list)  # in the source, not hashing to their name


def artifacts_copy(source: Storage, target: Storage, names: list[str]) -> Copied:
    """Copy each named artifact that ``target`` lacks from ``source``, streamed and checked
    against its hash (a corrupt one is reported and not copied)."""
    result = Copied()
    for name in names:
        if target.exists(name):
            continue
        if not source.exists(name):
            result.missing.append(name)
            continue
        with source.open(name, "rb") as handle, tempfile.TemporaryFile() as spool:
            digest = hashlib.sha256()
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                spool.write(chunk)
            expected = name.rsplit("/", 1)[-1].removesuffix(".zip")
            if digest.hexdigest() != expected:
                result.corrupt.append(name)
                continue
            spool.seek(0)
            target.save(name, File(spool, name=name))
        result.copied += 1
    return result
