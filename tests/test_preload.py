"""aectl.record.preload: what pictures and analyses import, loaded after the first step.

That nothing heavy is imported before the first step is test_startup's (a real process);
here: when the loaders are queued, that they run once per process on their own thread, and
that a failing loader costs nothing but itself.
"""

from __future__ import annotations

import os
import threading
import time

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


def test_drawing_waits_for_the_pictures_loader_only_and_the_analyses_for_every_loader(
    monkeypatch,
):
    """matplotlib imported by two threads at once can come out half-initialised: a first
    use waits for the loader that imports what it uses. Drawing waits for the pictures'
    loader (it runs first), not for scikit-learn's; the analyses wait for all."""
    import torch

    from aectl import analysis
    from aectl.record import pictures

    monkeypatch.setattr(preload, "_started", set())
    for first_use in (pictures.pyplot, lambda: pictures.grid(torch.zeros(1, 3, 4, 4))):
        order: list[str] = []
        release = threading.Event()

        def pictures_loader(order=order):
            time.sleep(0.3)
            order.append("pictures loaded")

        def analyses_loader(order=order, release=release):
            release.wait(10)
            order.append("analyses loaded")

        monkeypatch.setattr(pictures, "warm", pictures_loader)
        preload.start(pictures_loader, analyses_loader)
        first_use()
        order.append("drawn")
        release.set()
        preload.wait()
        assert order == ["pictures loaded", "drawn", "analyses loaded"]

    class Waited(Exception):
        pass

    def wait(loader=None):
        assert loader is None  # every loader
        raise Waited

    monkeypatch.setattr(analysis.preload, "wait", wait)
    with pytest.raises(Waited):  # before it imports or touches anything
        analysis.run_all(None, None, None, None)


def test_the_loaders_thread_runs_at_the_lowest_priority_and_never_waits_for_itself(
    monkeypatch,
):
    import sys

    monkeypatch.setattr(preload, "_started", set())
    seen: dict[str, object] = {}

    def loader():
        preload.wait()  # (a loader that draws calls these: they must not wait for it)
        preload.wait(loader)
        if sys.platform.startswith("linux"):
            seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen["done"] = True

    ours = os.getpriority(os.PRIO_PROCESS, 0)
    preload.start(loader).join(timeout=10)
    assert seen.get("done")
    if sys.platform.startswith("linux"):
        assert seen["nice"] == 19
        assert os.getpriority(os.PRIO_PROCESS, 0) == ours  # the process's own is untouched
