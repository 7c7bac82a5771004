"""A disk-backed /tmp for each execution environment, sized by its ephemeral storage.

Lambda's /tmp is disk, not memory: a 128 MB function with 1,024 MB of ephemeral storage can
write 600 MB there. Here each environment gets an ext4 filesystem of exactly that size in
a sparse file (so it takes only the disk it uses), on a loop device that clears itself
when its last user goes. The filesystem is mounted in a mount namespace private to the
sandbox (``mount_inside``, run in the sandbox's first process before bubblewrap), so the
host never sees it and it goes away with the sandbox, however the worker ends. Writing past
its size fails with ENOSPC inside the function only. Page cache for it is reclaimable, so
it does not count against the function's memory limit the way a tmpfs would.

One empty filesystem image per size is made with ``mkfs.ext4`` once per host; each
environment copies it (holes stay holes, so that takes about a millisecond).

Loop devices need root. Without root, or without ``mkfs.ext4``, ``TmpVolume.create``
returns None and the sandbox falls back to a size-limited tmpfs (which does count as memory).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import shutil
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

logger = logging.getLogger("stratus.tmp_volume")

_LOOP_CTL_GET_FREE = 0x4C82
_LOOP_CONFIGURE = 0x4C0A
_LO_FLAGS_AUTOCLEAR = 4
_CLONE_NEWNS = 0x00020000
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_SEEK_DATA = 3
_SEEK_HOLE = 4
_libc = ctypes.CDLL(None, use_errno=True)
_templates_lock = threading.Lock()


def _loop_config(backing_fd: int) -> bytes:
    """``struct loop_config`` for LOOP_CONFIGURE: the file and LO_FLAGS_AUTOCLEAR."""
    # struct loop_info64: five u64, then lo_number, lo_encrypt_type, lo_encrypt_key_size,
    # lo_flags (u32 each), file name, crypt name, key, two u64.
    info = struct.pack("5Q4I64s64s32s2Q", 0, 0, 0, 0, 0, 0, 0, 0, _LO_FLAGS_AUTOCLEAR, b"", b"", b"", 0, 0)
    return struct.pack("II", backing_fd, 0) + info + bytes(64)


def _template(directory: Path, size_mb: int) -> Path:
    """An empty ext4 image of ``size_mb`` MB, made once per size."""
    path = directory / f"ext4-{size_mb}m.img"
    if path.exists():
        return path
    with _templates_lock:
        if path.exists():
            return path
        directory.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(dir=directory, prefix=".template-")
        os.close(handle)
        try:
            os.truncate(staging, size_mb * 1024 * 1024)
            subprocess.run(
                [
                    "mkfs.ext4",
                    "-q",
                    "-F",
                    # No journal and nothing reserved for root: this is scratch space.
                    "-O",
                    "^has_journal",
                    "-m",
                    "0",
                    "-E",
                    "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0",
                    staging,
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            os.rename(staging, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staging)
    return path


def _sparse_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` keeping its holes (only the data blocks are copied)."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        size = os.fstat(reader.fileno()).st_size
        os.ftruncate(writer.fileno(), size)
        offset = 0
        while offset < size:
            try:
                start = os.lseek(reader.fileno(), offset, _SEEK_DATA)
            except OSError:
                break  # only a hole is left
            end = os.lseek(reader.fileno(), start, _SEEK_HOLE)
            while start < end:
                copied = os.copy_file_range(reader.fileno(), writer.fileno(), end - start, start, start)
                if copied == 0:
                    break
                start += copied
            offset = end


class TmpVolume:
    """One environment's /tmp: a loop device holding a private copy of an empty image."""

    def __init__(self, device: str, device_fd: int) -> None:
        self.device = device
        self._device_fd = device_fd

    @classmethod
    def create(cls, *, size_mb: int, work_dir: Path) -> TmpVolume | None:
        if os.geteuid() != 0 or not shutil.which("mkfs.ext4") or not os.path.exists("/dev/loop-control"):
            return None
        try:
            template = _template(work_dir / "templates", size_mb)
            handle, image = tempfile.mkstemp(dir=work_dir, prefix="tmp-")
            os.close(handle)
            try:
                _sparse_copy(template, Path(image))
                backing = os.open(image, os.O_RDWR | os.O_CLOEXEC)
            finally:
                os.unlink(image)  # the loop device keeps it; the disk is freed when it goes
            try:
                device, device_fd = _loop_attach(backing)
            finally:
                os.close(backing)
        except (OSError, subprocess.SubprocessError) as exc:
            logger.warning("no disk-backed /tmp (%s); using a size-limited tmpfs instead", exc)
            return None
        return cls(device, device_fd)

    def release(self) -> None:
        """Drop the worker's hold: the device clears itself once the sandbox's mount is gone."""
        if self._device_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._device_fd)
            self._device_fd = -1


def _loop_attach(backing: int, *, attempts: int = 8) -> tuple[str, int]:
    """A free loop device configured with ``backing``, and the descriptor that holds it.

    Finding a free device and configuring it are two steps: another process (another host,
    a cold start on another thread) may take the same device in between, which answers
    EBUSY; then ask for the next free one, as losetup does."""
    for attempt in range(attempts):
        control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            number = fcntl.ioctl(control, _LOOP_CTL_GET_FREE)
        finally:
            os.close(control)
        device = f"/dev/loop{number}"
        device_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(device_fd, _LOOP_CONFIGURE, _loop_config(backing))
        except OSError as exc:
            os.close(device_fd)
            if exc.errno != errno.EBUSY or attempt == attempts - 1:
                raise
            continue
        return device, device_fd
    raise AssertionError("unreachable")


def mount_inside(device: str, mount_point: str) -> None:
    """In the sandbox's first process (before exec): a private mount namespace with the
    volume mounted at ``mount_point``, empty and writable by everyone, like /tmp."""
    if _libc.unshare(_CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if _libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    if _libc.mount(device.encode(), mount_point.encode(), b"ext4", _MS_NOSUID | _MS_NODEV, None) != 0:
        raise OSError(ctypes.get_errno(), f"mount {device}")
    with contextlib.suppress(OSError):
        os.rmdir(os.path.join(mount_point, "lost+found"))
    os.chmod(mount_point, 0o1777)
