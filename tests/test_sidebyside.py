"""side_by_side: results in order, exceptions raised, every thread finished."""

from __future__ import annotations

import threading
import time

import pytest

from sync_job.sidebyside import both, side_by_side


def test_results_come_back_under_their_keys_in_order() -> None:
    names: dict[str, str] = {}

    def work(key: str, value: int) -> int:
        names[key] = threading.current_thread().name
        return value * 10

    results = side_by_side({key: (lambda k=key, v=value: work(k, v))
                            for key, value in [("c", 3), ("a", 1), ("b", 2)]})
    assert list(results.items()) == [("c", 30), ("a", 10), ("b", 20)]
    assert names["c"] == threading.current_thread().name  # the first runs on the caller
    assert names["a"] != names["c"] and names["b"] != names["c"]


def test_an_exception_is_raised_after_every_callable_finished() -> None:
    finished = threading.Event()

    def slow() -> int:
        time.sleep(0.2)
        finished.set()
        return 1

    def broken() -> int:
        raise ValueError("bad column")

    with pytest.raises(ValueError, match="bad column"):
        side_by_side({"broken": broken, "slow": slow})
    assert finished.is_set()


def test_a_later_exception_is_raised_too() -> None:
    def broken() -> int:
        raise KeyError("names")

    with pytest.raises(KeyError):
        side_by_side({"fine": lambda: 1, "broken": broken})


def test_one_or_no_callable_needs_no_thread() -> None:
    assert side_by_side({}) == {}
    assert side_by_side({"only": threading.current_thread}) == {
        "only": threading.current_thread()}


def test_both_gives_two_results_of_their_own_types() -> None:
    caller = threading.current_thread().name
    number, name = both(lambda: 7, lambda: threading.current_thread().name)
    assert number == 7
    assert name != caller


def test_both_raises_the_first_exception_after_the_second_finished() -> None:
    finished = threading.Event()

    def broken() -> int:
        raise ValueError("snapshot ids")

    def slow() -> str:
        time.sleep(0.2)
        finished.set()
        raise KeyError("not this one")

    with pytest.raises(ValueError, match="snapshot ids"):
        both(broken, slow)
    assert finished.is_set()
