"""The data dir is for Stratus's own user alone: database, Redis files, secrets, code.

Every Stratus process sets its umask to 0o077 as settings load (so do the children it
starts, such as redis-server, which inherit it), so everything written there is created
0600 or 0700. ``data_dir_create`` makes the dir 0700 on every start: one chmod, and it alone
keeps other users away from all that is below. ``data_dir_secure`` also walks the tree to
tighten what older releases (or another umask) left readable; it reads every entry, so
``runstratus`` calls it once per start rather than every process.

``worker-cache/`` is left as it is: the sandbox's uid reads the unzipped code and the
bootstraps there through bind mounts, so those stay 0644/0755 (see code_cache.py); the
data dir's own 0700 still keeps every other host user out of them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
SANDBOX_READABLE = ("worker-cache",)


def data_dir_create(path: Path) -> Path:
    """Make ``path`` (if needed) and close it to everyone but its owner; returns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def data_dir_secure(path: Path) -> list[Path]:
    """Take group and other permissions off everything under ``path``; returns what changed.

    Symbolic links are neither followed nor changed (chmod would change their target).
    """
    changed = []
    for directory, subdirectories, files in os.walk(path):
        if directory == str(path):
            subdirectories[:] = [name for name in subdirectories if name not in SANDBOX_READABLE]
        for name in [*subdirectories, *files]:
            entry = Path(directory) / name
            if _private(entry):
                changed.append(entry)
    if _private(path):
        changed.append(path)
    return changed


def _private(path: Path) -> bool:
    """Drop ``path``'s group and other bits; True when there were any."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:  # a temporary file, gone since the directory was listed
        return False
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) or not mode & 0o077:
        return False
    path.chmod(stat.S_IMODE(mode) & ~0o077)
    return True
