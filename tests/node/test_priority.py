"""Background work runs below the requests' CPU priority: the optimizer thread (and so the
OpenMP threads FAISS starts from it) and each snapshot written to a file."""

from __future__ import annotations

import os
import threading
import time

from node.optimizer import Optimizer
from node.priority import NICE_INCREMENT


def test_the_optimizer_thread_is_niced_and_nothing_else_is():
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    optimizer = Optimizer(idle_sleep=0.01)
    try:
        tid = optimizer._thread.native_id
        deadline = time.monotonic() + 5
        while os.getpriority(os.PRIO_PROCESS, tid) == mine and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.getpriority(os.PRIO_PROCESS, tid) == min(19, mine + NICE_INCREMENT)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
    finally:
        optimizer.stop()


def test_a_background_job_runs_niced_and_hands_back_its_result_or_error():
    from node.priority import run_in_background

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def nice_of_this_thread() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert run_in_background(nice_of_this_thread) == min(19, mine + NICE_INCREMENT)
    assert nice_of_this_thread() == mine

    def fails() -> None:
        raise ValueError("as it should")

    try:
        run_in_background(fails)
    except ValueError as exc:
        assert str(exc) == "as it should"
    else:
        raise AssertionError("the job's error was not raised")


def test_background_io_is_paced_only_while_requests_arrive_after_it_began(monkeypatch, tmp_path):
    """A snapshot file on an idle node (or with only the request that asked for it) is written
    at full speed; once requests come in meanwhile, at the busy rate."""
    from node import priority
    from node import snapshot_archive as archive

    slept: list[float] = []
    monkeypatch.setattr(priority.time, "sleep", slept.append)
    priority.note_request()  # the request that asks for the snapshot
    chunks = [b"x" * 1000] * 4
    archive.write_file(iter(chunks), tmp_path / "idle.snapshot", rate=1_000_000)
    assert slept == []

    def busy():
        for chunk in chunks:
            priority.note_request()  # a search arrived while the file is written
            yield chunk

    size, _ = archive.write_file(busy(), tmp_path / "busy.snapshot", rate=1_000_000)
    assert size == 4000 and slept == [0.001] * 4
    slept.clear()
    archive.write_file(busy(), tmp_path / "unlimited.snapshot", rate=0)
    assert slept == []
