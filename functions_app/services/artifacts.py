"""Code artifacts: zips stored once by SHA-256 through Django's storage API."""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from functions_app.errors import CodeStorageExceeded
from functions_app.models import CodeArtifact
from functions_app.selectors import total_code_size
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
    return artifact_bytes(artifact.storage_name)


def artifact_bytes(storage_name: str) -> bytes:
    """A stored artifact's bytes by its storage name: how a host fetches code it has not
    unzipped yet (``runtime/code_cache.CodeFetch``)."""
    with default_storage.open(storage_name, "rb") as handle:
        return handle.read()
