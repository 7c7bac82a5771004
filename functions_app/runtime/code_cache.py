"""A worker's local copies of code artifacts, fetched by content hash and unzipped once.

Where the artifacts are stored is not this module's business: ``code_dir`` is handed a
``CodeFetch`` that copies an artifact, by its storage name, into a file (the worker command
passes one that streams from Django's storage, ``services/artifacts.artifact_copy``). What
arrives is checked against its SHA-256 before it is unzipped.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO

# Lambda's CodeSizeUnzipped. CreateFunction refuses a larger artifact (validation.py) and
# unzipping stops there too, whatever the archive claims.
UNZIPPED_MAX_BYTES = 262_144_000

# Copies an artifact, by its storage name, into the binary file it is given.
CodeFetch = Callable[[str, IO[bytes]], None]

_BOOTSTRAP_DIR = Path(__file__).resolve().parent / "bootstraps"
_CHUNK = 1024 * 1024


class CodeUnavailable(Exception):
    """The artifact could not be fetched from where it is stored: a fault of the platform
    (storage unreachable, artifact missing or altered), not of the function."""


class ArtifactRefused(Exception):
    """A stored artifact that cannot be unzipped safely: corrupt, or larger unzipped than its
    headers declare or than ``UNZIPPED_MAX_BYTES``. Nothing of it is left in the cache."""


def _unzip(data: Path | BinaryIO, target: Path, *, limit: int = UNZIPPED_MAX_BYTES) -> None:
    """Extract ``data`` into ``target``, writing no member past its declared size and no more
    than ``limit`` in all, whatever the archive's headers claim (raises ArtifactRefused).

    CreateFunction checked the artifact once, but this is the step that fills the disk, so
    it keeps its own bound rather than trust a check made before the rules changed.
    """
    root = target.resolve()
    with zipfile.ZipFile(data) as archive:
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > limit:
            raise ArtifactRefused(f"the artifact declares {declared} unzipped bytes; the limit is {limit}")
        total = 0
        for info in infos:
            path = (target / info.filename).resolve()
            if not path.is_relative_to(root):
                continue  # refuse paths that climb out of the package
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                path.chmod(0o755)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with archive.open(info) as source, open(path, "wb") as sink:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        if written > info.file_size or total > limit:
                            raise ArtifactRefused(
                                f"{info.filename} unzips past its declared {info.file_size} bytes "
                                f"or the artifact past {limit}"
                            )
                        sink.write(chunk)
            except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
                # A header that understates a member shows here, as a bad CRC at the declared size.
                raise ArtifactRefused(f"{info.filename} is corrupt: {exc}") from exc
            unix_mode = info.external_attr >> 16
            executable = bool(unix_mode & stat.S_IXUSR)
            path.chmod(0o755 if executable else 0o644)
    for directory, _, _ in os.walk(target):
        os.chmod(directory, 0o755)


def code_dir(cache_root: Path, *, sha256: str, storage_name: str, fetch: CodeFetch) -> Path:
    """The unzipped package for ``sha256``, fetched (``fetch(storage_name)``) on first use.

    Raises CodeUnavailable when the artifact cannot be fetched or is not the one named, and
    ArtifactRefused for one that would unzip past its declared sizes or the unzipped limit;
    either way nothing of it is left behind.
    """
    target = cache_root / "code" / sha256
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(prefix=f".{sha256[:12]}-", suffix=".zip", dir=target.parent) as download:
        _fetch_checked(fetch, storage_name, sha256, download)
        staging = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=target.parent))
        try:
            _unzip(Path(download.name), staging)
            staging.chmod(0o755)
            os.rename(staging, target)
        except ArtifactRefused:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():
                raise
    return target


class _Hashing(io.RawIOBase):
    """A writable file that hashes what passes through it on the way to ``sink``."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return self.sink.write(data)


def _fetch_checked(fetch: CodeFetch, storage_name: str, sha256: str, sink: IO[bytes]) -> None:
    hashing = _Hashing(sink)
    try:
        fetch(storage_name, hashing)  # type: ignore[arg-type]  # a RawIOBase is a binary file
        sink.flush()
    except Exception as exc:
        raise CodeUnavailable(f"could not fetch code artifact {sha256}: {type(exc).__name__}: {exc}") from exc
    if hashing.digest.hexdigest() != sha256:
        raise CodeUnavailable(f"code artifact {sha256} arrived with SHA-256 {hashing.digest.hexdigest()}")


def runtime_dir(cache_root: Path) -> Path:
    """A copy of the bootstraps alone, so the sandbox sees them and nothing else of Stratus.

    Named by the hash of its files, so workers sharing a host share it and a new release
    gets a new directory without disturbing environments still running on the old one.
    """
    sources = sorted(
        path for path in _BOOTSTRAP_DIR.iterdir() if path.is_file() and not path.name.startswith(".")
    )
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    target = cache_root / f"runtime-{digest.hexdigest()[:16]}"
    if target.is_dir():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".runtime-", dir=cache_root))
    for source in sources:
        shutil.copyfile(source, staging / source.name)
        (staging / source.name).chmod(0o644)
    staging.chmod(0o755)
    try:
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target
