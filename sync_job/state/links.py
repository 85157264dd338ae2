"""Open a file the job keeps without following a symlink planted at its path, on every OS.

A symlink at the lock or journal path would get its target truncated or overwritten. Linux and
macOS refuse one in the open itself (``O_NOFOLLOW``). Windows has no such flag: there the path
is looked at just before the open (making a symlink there takes an administrator or Developer
Mode), and the lock then checks that the file it opened is the one at the path.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

NO_FOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
# Not inherited by child processes (POSIX; Windows files are not inheritable anyway), and
# bytes as written (Windows would otherwise translate line ends).
_PORTABLE: int = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def open_no_follow(path: Path, flags: int, mode: int) -> int:
    """``os.open(path, flags, mode)`` that raises OSError with ``errno.ELOOP`` when ``path``
    is a symbolic link, as ``O_NOFOLLOW`` makes the open itself do where it exists."""
    if not NO_FOLLOW and path.is_symlink():
        raise OSError(errno.ELOOP, "is a symbolic link", str(path))
    return os.open(path, flags | NO_FOLLOW | _PORTABLE, mode)
