"""One live run per snapshot: an exclusive ``flock`` on a file beside it.

``state/snapshot.csv`` → ``state/snapshot.csv.lock``. The holder writes its pid and start time
into the file, so a second run can say who holds it. The kernel drops a ``flock`` when its
process dies, however it dies, so a lock can never outlive its run; what a dead run leaves is
only the text in the file, and the next run takes over with a warning.

The file is never deleted, only emptied on release: deleting a lock file lets a third process
lock a fresh file while a second still holds the old, unlinked one. Should someone delete or
replace it all the same, :meth:`RunLock.still_held` says so, and the run stops changing the
files it shares with whichever run starts next.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from sync_job.errors import RunLockedError, StartupError

log = logging.getLogger("sync_job")

LOCK_SUFFIX = ".lock"


def lock_path_for(snapshot_path: Path) -> Path:
    return snapshot_path.with_name(snapshot_path.name + LOCK_SUFFIX)


def _describe_holder(text: str) -> tuple[str, str]:
    """(pid, start time) from the lock file's text, "?" where it says nothing usable."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return fields.get("pid", "?").strip() or "?", fields.get("started", "?").strip() or "?"


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode("utf-8", "replace")


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path``: not removed, not replaced by another."""
    held = os.fstat(fd)
    try:
        there = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return held.st_nlink > 0 and (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


# Tries to lock the file that is at the path, should it keep being replaced under us.
_ATTEMPTS = 10


class RunLock:
    """Hold the lock for the ``with`` block; raise :class:`RunLockedError` if another run has it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        for _ in range(_ATTEMPTS):
            fd = self._open_and_lock()
            # Between open and flock another process may have removed the file and locked a
            # new one at the path: a lock on the old file would exclude nobody. Try again.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        else:
            raise StartupError(f"{self.path}: the lock file keeps being removed or replaced; "
                               f"nothing was sent and no file was changed")
        left = _read(fd)
        if left.strip():
            pid, started = _describe_holder(left)
            log.warning("taking over %s, left by a run that no longer exists (pid %s, started "
                        "%s); its confirmed updates are in the journal", self.path, pid, started)
        started_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid={os.getpid()}\nstarted={started_at}\n".encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            raise StartupError(f"{self.path}: cannot write the lock file ({exc.strerror}); "
                               f"nothing was sent") from None
        self._fd = fd
        return self

    def _open_and_lock(self) -> int:
        try:
            # O_NOFOLLOW: a symlink planted at the lock path must not get its target truncated.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StartupError(
                    f"{self.path}: is a symbolic link; the run lock must be a plain file the "
                    f"job creates: remove the link (nothing was sent and no file was changed)"
                ) from None
            raise StartupError(f"{self.path}: cannot open the lock file ({exc.strerror})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise StartupError(f"{self.path}: is not a plain file; the run lock must be a plain "
                               f"file the job creates: remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, started = _describe_holder(_read(fd))
            os.close(fd)
            raise RunLockedError(
                f"another run (pid {pid}, started {started}) holds {self.path}; "
                f"nothing was sent and no file was changed") from None
        except OSError as exc:
            os.close(fd)
            raise StartupError(f"{self.path}: cannot lock ({exc.strerror})") from None
        return fd

    def still_held(self) -> bool:
        """Whether the file at the path is still the one this run locked (two cheap system
        calls). Deleting or replacing the lock file lets another run start; this run must
        then stop changing what the two share."""
        return self._fd is not None and _same_file(self._fd, self.path)

    def __exit__(self, *exc_info: object) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # empty = released cleanly; the flock itself goes with close
        os.close(fd)
