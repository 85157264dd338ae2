"""One live run per snapshot: an exclusive lock on a file beside it, on Linux, macOS and Windows.

``state/snapshot.csv`` → ``state/snapshot.csv.lock``. The lock itself is filelock's
``lock_descriptor`` on a file this module opens: ``flock`` of the whole file on Linux and macOS,
``LockFileEx`` of its first byte on Windows. The operating system drops it when its process
dies, however it dies, so a lock can never outlive its run; what a dead run leaves is only the
text in the file, and the next run takes over with a warning.

The holder writes its pid and start time into the file, so a second run can say who holds it.
The note starts after a first line break: Windows lets no one but the holder read a locked
byte, and the byte locked there is the first.

The file is never deleted, only emptied on release: deleting a lock file lets a third process
lock a fresh file while a second still holds the old, unlinked one. Should someone delete or
replace it all the same, :meth:`RunLock.still_held` says so, and the run stops changing the
files it shares with whichever run starts next. (Windows refuses to delete or replace a file
that a process holds open, so there it cannot happen.)
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from sync_job.errors import RunLockedError, StartupError
from sync_job.state.links import open_no_follow

log = logging.getLogger("sync_job")

LOCK_SUFFIX = ".lock"


def lock_path_for(snapshot_path: Path) -> Path:
    return snapshot_path.with_name(snapshot_path.name + LOCK_SUFFIX)


def _describe_holder(text: str) -> tuple[str, str]:
    """(pid, start time) from the lock file's text, "?" where it says nothing usable."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return fields.get("pid", "?").strip() or "?", fields.get("started", "?").strip() or "?"


# Where the note starts: after the first byte, the one Windows locks.
_NOTE_AT = 1


def _read(fd: int, offset: int = 0) -> str:
    os.lseek(fd, offset, os.SEEK_SET)
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
            # Between open and lock another process may have removed the file and locked a
            # new one at the path: a lock on the old file would exclude nobody. Try again.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        else:
            raise StartupError(f"{self.path}: the lock file keeps being removed or replaced; "
                               f"nothing was sent and no file was changed")
        left = _read(fd)  # from the start: a lock file of an older sync-job has no line first
        if left.strip():
            pid, started = _describe_holder(left)
            log.warning("taking over %s, left by a run that no longer exists (pid %s, started "
                        "%s); its confirmed updates are in the journal", self.path, pid, started)
        started_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"\npid={os.getpid()}\nstarted={started_at}\n".encode())
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            raise StartupError(f"{self.path}: cannot write the lock file ({exc.strerror}); "
                               f"nothing was sent") from None
        self._fd = fd
        return self

    def _open_and_lock(self) -> int:
        # Imported here: only a live run takes the lock, and filelock takes a while to import.
        from filelock import lock_descriptor

        try:
            # A symlink planted at the lock path must not get its target truncated.
            fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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
            locked = lock_descriptor(fd, blocking=False)
        except OSError as exc:
            os.close(fd)
            raise StartupError(f"{self.path}: cannot lock ({exc.strerror})") from None
        if not locked:
            pid, started = _describe_holder(_read(fd, _NOTE_AT))
            os.close(fd)
            raise RunLockedError(
                f"another run (pid {pid}, started {started}) holds {self.path}; "
                f"nothing was sent and no file was changed")
        return fd

    def still_held(self) -> bool:
        """Whether the file at the path is still the one this run locked (two cheap system
        calls). Deleting or replacing the lock file lets another run start; this run must
        then stop changing what the two share."""
        return self._fd is not None and _same_file(self._fd, self.path)

    def __exit__(self, *exc_info: object) -> None:
        from filelock import unlock_descriptor

        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # empty = released cleanly
        with contextlib.suppress(OSError):  # closing releases it too; Windows may take a while
            unlock_descriptor(fd)
        os.close(fd)
