"""Files kept in the database through Django's storage API: the default home of code
artifacts (``STRATUS_CODE_STORAGE=database``, see ``dashboard/code_storage.py``). Each file
is rows of 1 MiB, so a host streams an artifact rather than holding it whole in memory.
"""

from __future__ import annotations

import io

from django.core.files.base import File
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.utils.deconstruct import deconstructible

CHUNK_BYTES = 1024 * 1024


class _ChunkReader(io.RawIOBase):
    """Reads a stored file one chunk (one row) at a time."""

    def __init__(self, name: str, size: int) -> None:
        self._name = name
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer) -> int:
        from functions_app.models import StoredChunk

        if self._position >= self._size:
            return 0
        index, skip = divmod(self._position, CHUNK_BYTES)
        row = (
            StoredChunk.objects.filter(file_id=self._name, index=index).values_list("data", flat=True).first()
        )
        expected = min(CHUNK_BYTES, self._size - index * CHUNK_BYTES)
        if row is None or len(row) != expected:
            raise OSError(f"{self._name}: chunk {index} is missing from the database or cut short")
        data = bytes(row)[skip : skip + len(buffer)]
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


@deconstructible
class DatabaseStorage(Storage):
    """Django's storage API over ``StoredFile``/``StoredChunk`` rows (1 MiB each)."""

    def _open(self, name: str, mode: str = "rb") -> File:
        from functions_app.models import StoredFile

        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("DatabaseStorage files are read-only once saved; save a new name instead")
        try:
            size = StoredFile.objects.values_list("size", flat=True).get(name=name)
        except StoredFile.DoesNotExist:
            raise FileNotFoundError(f"{name} is not in the database's storage") from None
        return File(io.BufferedReader(_ChunkReader(name, size), buffer_size=CHUNK_BYTES), name=name)

    def _save(self, name: str, content) -> str:
        from functions_app.models import StoredChunk, StoredFile

        while True:
            if hasattr(content, "seek"):
                content.seek(0)
            try:
                with transaction.atomic():
                    stored = StoredFile.objects.create(name=name)
                    size = 0
                    for index, chunk in enumerate(_chunks(content)):
                        StoredChunk.objects.create(file=stored, index=index, data=chunk)
                        size += len(chunk)
                    stored.size = size
                    stored.save(update_fields=["size"])
                return name
            except IntegrityError:
                if not self.exists(name):
                    raise
                name = self.get_available_name(name)  # a concurrent writer took the name

    def delete(self, name: str) -> None:
        from functions_app.models import StoredFile

        StoredFile.objects.filter(name=name).delete()

    def exists(self, name: str) -> bool:
        from functions_app.models import StoredFile

        return StoredFile.objects.filter(name=name).exists()

    def size(self, name: str) -> int:
        from functions_app.models import StoredFile

        try:
            return StoredFile.objects.values_list("size", flat=True).get(name=name)
        except StoredFile.DoesNotExist:
            raise FileNotFoundError(name) from None

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        from functions_app.models import StoredFile

        prefix = f"{path.rstrip('/')}/" if path else ""
        directories, files = set(), []
        for name in StoredFile.objects.filter(name__startswith=prefix).values_list("name", flat=True):
            if not name.startswith(prefix):
                continue  # SQLite's LIKE ignores case
            head, _, tail = name[len(prefix) :].partition("/")
            if tail:
                directories.add(head)
            else:
                files.append(head)
        return sorted(directories), sorted(files)

    def url(self, name: str) -> str:
        raise NotImplementedError("artifacts in the database have no URL; Stratus serves them itself")


def _chunks(content):
    """``content``'s bytes in CHUNK_BYTES pieces, whatever size its reads return."""
    pending = b""
    while True:
        data = content.read(CHUNK_BYTES)
        if not data:
            break
        pending += data
        while len(pending) >= CHUNK_BYTES:
            yield pending[:CHUNK_BYTES]
            pending = pending[CHUNK_BYTES:]
    if pending:
        yield pending
