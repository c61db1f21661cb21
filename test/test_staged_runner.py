"""perception/staged.py: two stages overlapped across two threads, items kept in order, errors lose one item."""

from __future__ import annotations

import queue
import threading

import pytest

from fasthmr_ros.perception.staged import StagedRunner, run_through


def _source(items):
    q: queue.Queue = queue.Queue()
    for item in items:
        q.put(item)

    def take(timeout: float):
        try:
            return q.get(timeout=timeout)
        except queue.Empty:
            return None

    return take


def _collect(count: int):
    done: list = []
    finished = threading.Event()

    def second(mid) -> None:
        done.append(mid)
        if len(done) == count:
            finished.set()

    return done, finished, second


@pytest.mark.parametrize("overlap", [True, False])
def test_every_item_leaves_in_order_and_a_failing_one_is_reported(overlap: bool) -> None:
    errors: list[BaseException] = []
    items = list(range(50))
    done, finished, second = _collect(len(items) - 1)

    def first(item: int) -> int:
        if item == 17:
            raise ValueError("bad frame 17")
        return item * 10

    runner = StagedRunner(_source(items), first, second, errors.append, overlap=overlap).start()
    assert finished.wait(10)
    assert runner.stop()
    assert done == [i * 10 for i in items if i != 17]
    assert [str(e) for e in errors] == ["bad frame 17"]


def test_stage_one_of_the_next_item_runs_while_stage_two_of_this_one_does() -> None:
    # stage 2 of item 0 holds until stage 1 of item 1 has started: possible only if the stages overlap
    second_may_go = threading.Event()
    started_first: list[int] = []
    done, finished, second_base = _collect(3)

    def first(item: int) -> int:
        started_first.append(item)
        if item == 1:
            second_may_go.set()
        return item

    def second(mid: int) -> None:
        if mid == 0:
            assert second_may_go.wait(5), "stage 1 of item 1 never started while item 0 was in stage 2"
        second_base(mid)

    errors: list[BaseException] = []
    runner = StagedRunner(_source([0, 1, 2]), first, second, errors.append, overlap=True).start()
    assert finished.wait(10)
    runner.stop()
    assert errors == [] and done == [0, 1, 2]


def test_stage_one_waits_instead_of_running_ahead() -> None:
    # with stage 2 stuck, stage 1 may finish the item in hand and one more (the hand-over holds one), never more
    release = threading.Event()
    firsts: list[int] = []
    done, finished, second_base = _collect(6)

    def second(mid: int) -> None:
        release.wait(10)
        second_base(mid)

    runner = StagedRunner(_source(range(6)), lambda i: firsts.append(i) or i, second, lambda e: None).start()
    threading.Event().wait(0.5)
    ahead = len(firsts)
    release.set()
    assert finished.wait(10)
    runner.stop()
    assert ahead <= 3, f"stage 1 ran {ahead} items while stage 2 held its first"
    assert done == list(range(6))


def test_stop_ends_both_threads_while_stage_two_is_blocked() -> None:
    gate = threading.Event()
    runner = StagedRunner(_source(range(5)), lambda i: i, lambda m: gate.wait(0.3), lambda e: None).start()
    assert runner.stop(timeout=5.0)


@pytest.mark.parametrize("overlap", [True, False])
def test_run_through_returns_after_the_last_item_or_raises_the_first_error(overlap: bool) -> None:
    done: list[int] = []
    run_through(range(30), lambda i: i + 1, done.append, overlap=overlap)
    assert done == list(range(1, 31))

    def first(i: int) -> int:
        if i == 7:
            raise ValueError("item 7")
        return i

    with pytest.raises(ValueError, match="item 7"):
        run_through(range(30), first, lambda m: None, overlap=overlap)


def test_stop_wakes_an_idle_stage_two_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # stage 2 waiting on an empty hand-over must not sit out its poll period (30 s here) before it sees stop
    import fasthmr_ros.perception.staged as staged

    monkeypatch.setattr(staged, "_POLL_S", 30.0)
    nothing = threading.Event()
    runner = StagedRunner(lambda timeout: nothing.wait(0.01) or None, lambda i: i, lambda m: None, lambda e: None)
    runner.start()
    nothing.wait(0.2)  # both threads are now waiting: stage 1 on its source, stage 2 on the hand-over
    assert runner.stop(timeout=5.0)
