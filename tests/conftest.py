"""Shared test helpers: compose configs the way `aectl train` does, and run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist-t10k"
# the `model=` presets the product promises: the whole autoencoder taxonomy
TAXONOMY = [
    "linear",
    "shallow",
    "deep",
    "conv",
    "sparse",
    "sparse_kl",
    "denoising",
    "contractive",
    "dropout",
]
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(), reason="needs ../shared/data/mnist-t10k"
)


@pytest.fixture(scope="session", autouse=True)
def _schemas():
    from aectl.config.register import register_all

    register_all()


@pytest.fixture(autouse=True)
def _no_preload_left():
    """A test's runs may leave aectl's preload importing on a background thread; the next
    test's own imports must not meet it (aectl.record.preload)."""
    yield
    from aectl.record import preload

    preload.wait()


@pytest.fixture(autouse=True)
def _no_hydra_config_left():
    """A multirun in this process leaves Hydra's job config set (`HydraConfig`), and with it
    the launch folder relative paths resolve against (aectl.data.paths): the next test must
    start as a new process would, with none."""
    yield
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().cfg = None


def compose(*overrides: str):
    """The config `aectl train OVERRIDES` would run, composed in-process."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from aectl.paths import configs_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        return hydra_compose("train", overrides=list(overrides))


def aectl(*args: str, cwd: Path | None = None, timeout: int = 300, env: dict | None = None):
    """Run the installed `aectl` in a subprocess; returns CompletedProcess (text)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "aectl", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def aectl_here(*args: str, cwd: Path | None = None, env: dict | None = None) -> SimpleNamespace:
    """`aectl ARGS` in this process, with what a subprocess would give: returncode, stdout,
    stderr. No interpreter start and no imports paid again: a 2-epoch digits run takes
    ~1.5 s here against ~15 s as a process. Use it wherever a process adds nothing; what
    only a process shows (signals, SIGKILL, the exit status the shell sees, imports at
    startup, the installed wheel) is `aectl`'s to test. `env` is set for the call only;
    the working folder, argv, signal handlers and torch's thread count are put back."""
    import contextlib
    import io
    import signal

    import torch
    from hydra.core.global_hydra import GlobalHydra

    from aectl import cli, faults

    faults._counts.clear()  # AECTL_FAULT counts from this call's start, as in a new process
    out, err = io.StringIO(), io.StringIO()
    argv, here, threads = list(sys.argv), os.getcwd(), torch.get_num_threads()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    environ = {k: os.environ.get(k) for k in ["HYDRA_FULL_ERROR", *(env or {})]}
    os.environ.pop("HYDRA_FULL_ERROR", None)
    os.environ.update(env or {})
    os.chdir(cwd or ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as e:  # what Hydra's task function exits with
                code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv[:] = argv
        os.chdir(here)
        torch.set_num_threads(threads)
        for s, h in handlers.items():
            signal.signal(s, h)
        for k, v in environ.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        GlobalHydra.instance().clear()
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def trained_run(run: Path, *overrides: str) -> Path:
    """`aectl train OVERRIDES` into the folder `run` (in this process), which must succeed;
    returns `run`."""
    r = aectl_here("train", *overrides, f"hydra.run.dir={run}")
    assert r.returncode == 0, r.stderr[-3000:]
    return run


def npz_header_only(path: Path, shape: tuple[int, ...], descr: str = "<f8") -> Path:
    """An .npz whose x.npy header declares `shape` but holds almost no data: what the
    archive says, before anything is read."""
    import io
    import zipfile

    import numpy as np

    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(bytes(64))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", buf.getvalue())
    return path


def tensorboard_backend(logdir: Path):
    """TensorBoard's data provider over `logdir`, as `tensorboard --logdir` serves it."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin

    mux = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={"hparams": 0, "custom_scalars": 0, "text": 0}
    )
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    tb = base_plugin.TBContext(
        logdir=str(logdir),
        multiplexer=mux,
        data_provider=data_provider.MultiplexerDataProvider(mux, str(logdir)),
    )
    return tb, context.RequestContext(), mux


def hparams_view(logdir: Path):
    """(experiment, session groups, runs) from the hparams plugin's own handlers, asked as
    the dashboard asks (up to 1000 hparams; every status)."""
    from tensorboard.plugins.hparams import (
        api_pb2,
        backend_context,
        get_experiment,
        list_session_groups,
    )

    tb, request, mux = tensorboard_backend(logdir)
    ctx = backend_context.Context(tb)
    exp = get_experiment.Handler(
        request, ctx, "", api_pb2.GetExperimentRequest(hparams_limit=1000, include_metrics=True)
    ).run()
    query = api_pb2.ListSessionGroupsRequest(
        slice_size=100,
        allowed_statuses=[0, 1, 2, 3],
        col_params=[
            *(api_pb2.ColParams(hparam=h.name) for h in exp.hparam_infos),
            *(api_pb2.ColParams(metric=m.name) for m in exp.metric_infos),
        ],
    )
    groups = list_session_groups.Handler(request, ctx, "", query).run().session_groups
    return exp, groups, sorted(mux.Runs())


def pytest_collection_modifyitems(config, items):
    """Files with the most end-to-end (slow) tests first: `make test` hands whole files to
    its two workers in this order, so the long ones start early and the short ones fill in
    at the end, instead of one worker finishing a long file alone. Order within a file
    is kept."""
    from collections import Counter

    slow = Counter(item.path for item in items if item.get_closest_marker("slow"))
    first_seen = {path: i for i, path in enumerate(dict.fromkeys(item.path for item in items))}
    items.sort(key=lambda item: (-slow[item.path], first_seen[item.path]))
