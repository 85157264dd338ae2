"""The run lock through filelock, between real processes: who holds it, what a dead holder
leaves, a lock file removed or replaced, a symlink at its path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sync_job.errors import RunLockedError, StartupError
from sync_job.state.lock import RunLock

ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import sys
from pathlib import Path
from sync_job.state.lock import RunLock

with RunLock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


@contextmanager
def held_by_another_process(path: Path) -> Iterator[subprocess.Popen[str]]:
    """A second Python process holding the lock at ``path`` until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        if holder.poll() is None:
            holder.communicate("\n", timeout=10)


def test_a_second_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.csv.lock"
    with held_by_another_process(path) as holder:
        text = path.read_text()
        assert text.startswith("\npid=")  # the note starts after the byte Windows locks
        with pytest.raises(RunLockedError) as caught:
            RunLock(path).__enter__()
        message = str(caught.value)
        assert message.startswith(f"another run (pid {holder.pid}, started 20")
        assert message.endswith(f"holds {path}; nothing was sent and no file was changed")
        assert path.read_text() == text  # the refused run changed nothing
    assert holder.returncode == 0
    assert path.read_text() == ""  # released cleanly: emptied, not deleted
    with RunLock(path) as lock:  # free again
        assert lock.still_held()


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "snapshot.csv.lock"
    with held_by_another_process(path) as holder:
        holder.kill()
        holder.wait(timeout=10)
    with caplog.at_level("WARNING", logger="sync_job"), RunLock(path):
        assert f"pid={os.getpid()}\n" in path.read_text()
    assert [m for m in caplog.messages if m.startswith(f"taking over {path}, left by a run that "
                                                       f"no longer exists (pid {holder.pid}, ")]
    assert path.read_text() == ""


def test_a_lock_file_replaced_during_the_run_is_no_longer_held(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.csv.lock"
    with RunLock(path) as lock:
        other = tmp_path / "other"
        other.write_text("")
        os.replace(other, path)
        assert not lock.still_held()
        with RunLock(path) as second:  # the new file is free, so another run could start
            assert second.still_held()


def test_a_lock_file_removed_during_the_run_is_no_longer_held(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.csv.lock"
    with RunLock(path) as lock:
        path.unlink()
        assert not lock.still_held()
    assert not path.exists()  # the run does not make it again behind the next run's back


@pytest.mark.parametrize("target_exists", [True, False])
def test_a_symlink_at_the_lock_path_is_refused(tmp_path: Path, target_exists: bool) -> None:
    target = tmp_path / "precious.txt"
    if target_exists:
        target.write_text("do not truncate me\n")
    path = tmp_path / "snapshot.csv.lock"
    path.symlink_to(target)
    with pytest.raises(StartupError, match=r"is a symbolic link; .* remove the link"):
        RunLock(path).__enter__()
    assert target.exists() == target_exists
    if target_exists:
        assert target.read_text() == "do not truncate me\n"
    assert path.is_symlink()


def test_a_folder_at_the_lock_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.csv.lock"
    path.mkdir()
    with pytest.raises(StartupError, match="cannot open the lock file"):
        RunLock(path).__enter__()
