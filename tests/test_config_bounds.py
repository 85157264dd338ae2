"""Config values a bad day can bring: absurd numbers, YAML alias bombs, huge files and values."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync_job.config import load_config
from sync_job.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

# "Billion laughs": nine levels of ten aliases each, a 10**9-value document in ~600 bytes.
ALIAS_BOMB = "\n".join(
    ['a0: &a0 "lol"']
    + [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 10)]
)


def problems_of(path: Path | None, overrides: dict[str, object] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return caught.value.problems


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "key", "bound"),
    [
        ("api:\n  read_timeout: 1.0e+20\n", "api.read_timeout",
         "expected a number greater than 0 and at most 600"),
        ("api:\n  read_timeout: 601\n", "api.read_timeout",
         "expected a number greater than 0 and at most 600"),
        ("api:\n  connect_timeout: 100000000000000000000000\n", "api.connect_timeout",
         "expected a number greater than 0 and at most 600"),
        ("push:\n  concurrency: 257\n", "push.concurrency",
         "expected a whole number, at least 1 and at most 256"),
        ("push:\n  rate_limit: 10001\n", "push.rate_limit",
         "expected a number at least 0 and at most 10000"),
        ("push:\n  max_attempts: 101\n", "push.max_attempts",
         "expected a whole number, at least 1 and at most 100"),
        ("push:\n  backoff_initial: 3601\n  backoff_max: 3601\n", "push.backoff_initial",
         "expected a number at least 0 and at most 3600"),
        ("push:\n  backoff_max: 1.0e+300\n", "push.backoff_max",
         "expected a number at least 0 and at most 3600"),
    ],
)
def test_numbers_above_their_bound_are_refused_with_the_bound_in_the_message(
        tmp_path: Path, body: str, key: str, bound: str) -> None:
    problems = problems_of(write(tmp_path, body))
    assert any(f": {key}: {bound}, got " in p for p in problems), problems


@pytest.mark.parametrize("body", [
    "api:\n  connect_timeout: 600\n  read_timeout: 600\n",
    "push:\n  concurrency: 256\n  max_attempts: 100\n  rate_limit: 10000\n",
    "push:\n  backoff_initial: 3600\n  backoff_max: 3600\n",
])
def test_the_bounds_themselves_are_allowed(tmp_path: Path, body: str) -> None:
    load_config(write(tmp_path, body))


def test_flags_have_the_same_bounds(tmp_path: Path) -> None:
    problems = problems_of(None, {"concurrency": 100_000, "rate_limit": 1e20})
    assert "command line: --concurrency: expected a whole number, at least 1 and at most " \
           "256, got 100000" in problems
    assert any(p.startswith("command line: --rate-limit: expected a number at least 0 and at "
                            "most 10000") for p in problems), problems


def test_a_huge_read_timeout_on_the_command_line_is_exit_2_not_an_internal_error(
        tmp_path: Path) -> None:
    config = write(tmp_path, "api:\n  read_timeout: 1.0e+20\n")
    done = subprocess.run([sys.executable, "-m", "sync_job", "run", "--config", str(config),
                           "--dry-run"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    assert "api.read_timeout: expected a number greater than 0 and at most 600" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_yaml_alias_bomb_is_refused_at_once_and_briefly(tmp_path: Path) -> None:
    path = write(tmp_path, ALIAS_BOMB + "\npush:\n  concurrency: *a9\n")
    assert len(path.read_bytes()) < 1000
    started = time.monotonic()
    [problem] = problems_of(path)
    assert time.monotonic() - started < 2
    assert problem == (f"{path}: its aliases (*name) expand to more than 10,000 values; a "
                       f"config needs a few dozen: write the values out")


def test_an_alias_to_itself_is_refused(tmp_path: Path) -> None:
    [problem] = problems_of(write(tmp_path, "push:\n  concurrency: &a [*a]\n"))
    assert "expand to more than 10,000 values" in problem


def test_a_few_aliases_are_still_fine_and_a_bad_value_is_echoed_short(tmp_path: Path) -> None:
    # 10 * 10 * 10 values: within the limit, so the document is read and the value judged.
    text = "\n".join(ALIAS_BOMB.splitlines()[:4]) + "\npush:\n  concurrency: *a3\n"
    [problem] = [p for p in problems_of(write(tmp_path, text)) if "push.concurrency" in p]
    assert problem.startswith(f"{tmp_path / 'config.yaml'}: push.concurrency: expected a whole "
                              f"number, at least 1 and at most 256, got [[[")
    echoed = problem.split(", got ", 1)[1]
    assert len(echoed) == 80 and echoed.endswith("…")


@pytest.mark.parametrize(("body", "start"), [
    ("input:\n  empty_cells: " + "x" * 5000 + "\n", "'xxxxx"),
    ("push:\n  concurrency: " + "9" * 4000 + "\n", "9999"),
    ("input:\n  path: " + "[1, " * 10 + "2" + "]" * 10 + "\n", "[1, [1, "),
])
def test_every_echoed_value_is_cut_at_80_characters(tmp_path: Path, body: str,
                                                    start: str) -> None:
    [problem] = problems_of(write(tmp_path, body))
    echoed = problem.split(", got ", 1)[1]
    assert echoed.startswith(start) and len(echoed) <= 80, problem


def test_an_unknown_key_of_1000_characters_is_named_short(tmp_path: Path) -> None:
    [problem] = problems_of(write(tmp_path, "push:\n  " + "k" * 1000 + ": 1\n"))
    assert problem.startswith(f"{tmp_path / 'config.yaml'}: push.kkkk")
    assert "k" * 80 not in problem and "k" * 79 + "…: unknown key" in problem


def test_a_config_file_over_1_mib_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, "# padding\n" * 110_000)
    assert path.stat().st_size > 1 << 20
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: larger than 1 MiB")


@pytest.mark.parametrize(("body", "words"), [
    ("push:\n  concurrency: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("push:\n  concurrency: " + "9" * 5000 + "\n", "a value cannot be read"),
])
def test_yaml_python_cannot_build_is_a_config_problem_not_an_internal_error(
        tmp_path: Path, body: str, words: str) -> None:
    [problem] = problems_of(write(tmp_path, body))
    assert words in problem and len(problem) < 300
