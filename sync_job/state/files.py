"""Files the job writes: replaced atomically, leftovers of killed writes removed, a full disk
said in words.

Every file the job writes (snapshot, results, summary) goes to a temporary file in the same
folder, is flushed to disk, then renamed over the old one, so a crash leaves the old file or
the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.csv as pa_csv

_TEMP_SUFFIX = ".tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


PRIVATE = 0o600
"""Files with personal data (results, snapshot): readable by their owner only."""
SHARED = 0o666
"""Files without personal data (summary, run history): as the process umask allows, so a
monitoring user can read them."""


# Flags that exist on POSIX only (Windows has neither; O_EXCL already refuses any link).
_POSIX_FLAGS: int = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _new_temp(path: Path, mode: int) -> str:
    """Create ``.<name>.XXXXXXXX.tmp`` beside ``path``; the kernel applies the umask to
    ``mode``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _POSIX_FLAGS
    while True:
        name = str(path.parent / f"{_temp_prefix(path)}{secrets.token_hex(4)}{_TEMP_SUFFIX}")
        try:
            os.close(os.open(name, flags, mode))
        except FileExistsError:
            continue  # one chance in four billion: draw again
        return name


@contextlib.contextmanager
def atomic_path(path: Path, *, mode: int = PRIVATE) -> Iterator[Path]:
    """A new, empty temporary file beside ``path`` to write; when the block ends without an
    error it is flushed to disk and renamed over ``path``, else removed.

    The temporary file is ``.<name>.XXXXXXXX.tmp``, created with ``mode`` less the umask; a
    process killed while writing leaves it behind, for :func:`remove_leftovers`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_name = _new_temp(path, mode)
    try:
        yield Path(temp_name)
        fd = os.open(temp_name, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_binary_writer(path: Path, *, mode: int = PRIVATE) -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``."""
    with atomic_path(path, mode=mode) as temp, temp.open("wb") as handle:
        yield handle


def remove_leftovers(path: Path, *, older_than: float = 0.0) -> int:
    """Remove the temporary files that writes of ``path`` killed half-way left beside it, last
    changed more than ``older_than`` seconds ago; return how many were removed.

    Only plain files named exactly as :func:`atomic_path` names them (eight random
    characters), never anything else in the folder."""
    pattern = re.compile(re.escape(_temp_prefix(path)) + "[a-z0-9_]{8}" + re.escape(_TEMP_SUFFIX))
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return 0
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or (older_than and now - info.st_mtime < older_than):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed += 1
    return removed


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""The errors that mean the disk (or the user's quota, or the largest file) is full."""


def write_problem(path: Path, exc: OSError) -> str:
    """Why ``path`` could not be written, in the operator's words."""
    if exc.errno in DISK_FULL:
        return f"{path}: the disk is full ({os.strerror(exc.errno)})"
    return f"{path}: cannot write the file ({exc.strerror or exc})"


def _fsync_folder(folder: Path) -> None:
    # The rename itself is only durable once the folder entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_table(path: Path, table: pa.Table, *, bom: bool = False, delimiter: str = ","
                ) -> None:
    """Write a pyarrow ``table`` as CSV to ``path`` atomically, with pyarrow for speed.

    pyarrow's "needed" quoting still quotes every text cell; any CSV reader takes that.
    """
    # pyarrow's own file, not a Python one: no Python call per written batch.
    with atomic_path(path) as temp, pa.OSFile(str(temp), "wb") as sink:
        if bom:
            sink.write("\ufeff".encode())
        pa_csv.write_csv(table, sink, write_options=pa_csv.WriteOptions(
            quoting_style="needed", delimiter=delimiter))
