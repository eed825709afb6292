"""aectl.record.preload: what pictures and analyses import, loaded after the first step.

That nothing heavy is imported before the first step is test_startup's (a real process);
here: when the loaders are queued, that they run once per process on their own thread, and
that a failing loader costs nothing but itself.
"""

from __future__ import annotations

import threading

import pytest

from aectl.record import preload


def test_loaders_run_once_per_process_in_order_on_their_own_thread(monkeypatch):
    monkeypatch.setattr(preload, "_started", set())
    seen: list[tuple[str, str]] = []

    def a():
        seen.append(("a", threading.current_thread().name))

    def b():
        seen.append(("b", threading.current_thread().name))

    def broken():
        raise ImportError("no such library")

    preload.start(a, broken, b).join()
    assert seen == [("a", "aectl-preload"), ("b", "aectl-preload")]
    assert preload.start(a, b) is None  # once per process
    assert seen == [("a", "aectl-preload"), ("b", "aectl-preload")]


def test_a_run_starts_the_loaders_right_after_its_first_step(monkeypatch, tmp_path):
    from conftest import compose

    from aectl import analysis
    from aectl.record import pictures
    from aectl.training import loop, run

    calls: list[tuple[int, tuple]] = []
    steps = [0]
    real_make_step = run.make_step

    def counting_make_step(*args, **kwargs):
        step = real_make_step(*args, **kwargs)

        def counted(x):
            steps[0] += 1
            return step(x)

        return counted

    monkeypatch.setattr(loop.preload, "start", lambda *f: calls.append((steps[0], f)))
    monkeypatch.setattr(loop.preload, "spare_core", lambda *a: True)
    monkeypatch.setattr(run, "make_step", counting_make_step)
    run.train(compose("trainer.max_epochs=2", "trainer.analyze=none"), tmp_path)
    assert steps[0] > 12 and calls == [(1, (pictures.warm, analysis.warm))]


def test_a_core_is_spare_beside_an_accelerator_or_fewer_torch_threads(monkeypatch):
    monkeypatch.setattr(preload.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert preload.spare_core("cuda", 2) and preload.spare_core("cpu", 1)
    assert not preload.spare_core("cpu", 2)  # torch's threads use both cores: no preload


def test_no_spare_core_no_preload(monkeypatch, tmp_path):
    from conftest import compose

    from aectl.training import loop, run

    calls = []
    monkeypatch.setattr(loop.preload, "start", lambda *f: calls.append(f))
    monkeypatch.setattr(loop.preload, "spare_core", lambda *a: False)
    run.train(compose("trainer.max_epochs=1", "trainer.analyze=none"), tmp_path)
    assert calls == []


def test_first_uses_on_the_training_thread_wait_for_the_preload(monkeypatch):
    """matplotlib imported by two threads at once can come out half-initialised; the
    training thread's first uses (pictures, then the analyses) wait for the preload."""
    import time

    import torch

    from aectl import analysis
    from aectl.record import pictures

    monkeypatch.setattr(preload, "_started", set())
    for first_use in (pictures.pyplot, lambda: pictures.grid(torch.zeros(1, 3, 4, 4))):
        done: list[str] = []

        def slow(done=done):
            time.sleep(0.3)
            done.append(threading.current_thread().name)

        preload.start(slow)
        first_use()
        assert done == ["aectl-preload"]

    class Waited(Exception):
        pass

    def wait():
        raise Waited

    monkeypatch.setattr(analysis.preload, "wait", wait)
    with pytest.raises(Waited):  # before it imports or touches anything
        analysis.run_all(None, None, None, None)
