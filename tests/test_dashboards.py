"""What a sweep looks like in TensorBoard, read back with TensorBoard's own server-side code.

Two jobs of `aectl train -m model=contractive regularizer.weight=1e-4,1 ...` are trained
in-process, each with Hydra's multirun state set as Hydra sets it for a job (the sweep's
multirun.yaml, the job's overrides, its folder from `hydra.sweep.subdir`). The hparams,
custom-scalars and text plugins' own handlers then answer what the dashboards would show,
and the unweighted penalty term is checked against autograd on its definition in float64.
"""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import compose, hparams_view, tensorboard_backend

from aectl.config import metrics as vocab

COMMAND = ["model=contractive", "regularizer.weight=1e-4,1", "trainer.max_epochs=2",
           "trainer.device=cpu", "trainer.log_every_n_steps=5"]  # fmt: skip


@contextmanager
def sweep_job(root: Path, command: list[str], job: list[str]):
    """Hydra's state inside one job of `aectl train -m COMMAND`: yields (task config, folder)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf, open_dict, read_write

    from aectl.paths import configs_dir

    root.mkdir(parents=True, exist_ok=True)
    multirun = {"hydra": {"overrides": {"task": command}, "sweeper": {"params": None}}}
    (root / "multirun.yaml").write_text(yaml.safe_dump(multirun))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        cfg = hydra_compose("train", overrides=job, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode, cfg.hydra.sweep.dir = RunMode.MULTIRUN, str(root)
    HydraConfig.instance().set_config(cfg)
    try:
        folder = root / OmegaConf.select(cfg, "hydra.sweep.subdir")
        task = copy.deepcopy(cfg)
        with read_write(task), open_dict(task):
            del task["hydra"]
        yield task, folder
    finally:
        HydraConfig.instance().cfg = None


def jobs_of(command: list[str]) -> list[list[str]]:
    """The jobs Hydra's basic sweeper makes of a command line."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(command), None)
    return [list(j) for j in jobs]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> SimpleNamespace:
    from aectl.training.run import train

    root = tmp_path_factory.mktemp("dash") / "sweep"
    folders = {}
    for job in jobs_of(COMMAND):
        with sweep_job(root, COMMAND, job) as (cfg, folder):
            train(cfg, folder)
        folders[float(cfg.regularizer.weight)] = folder
    return SimpleNamespace(root=root, folders=folders)


def scalars(run: Path) -> dict[str, list]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: acc.Scalars(tag) for tag in acc.Tags()["scalars"]}


def test_folders_are_named_by_the_swept_key(sweep):
    assert sorted(p.relative_to(sweep.root).as_posix() for p in sweep.folders.values()) == [
        "regularizer.weight=0.0001/seed=0",
        "regularizer.weight=1/seed=0",
    ]


def test_hparams_show_the_swept_key_first_and_the_numbers_that_answer_which_lambda(sweep):
    exp, groups, _ = hparams_view(sweep.root)
    infos = list(exp.hparam_infos)
    assert [h.name for h in infos if h.differs] == ["regularizer.weight"]  # exactly the swept one
    assert infos[0].name == "regularizer.weight"  # the first column / axis without clicking
    assert "Logarithmic" in infos[0].description  # where to switch its axis (no proto field)
    assert [m.name.tag for m in exp.metric_infos[:5]] == [
        "val/recon",
        "val/jacobian_fro2",
        "epoch/train_jacobian_fro2",
        "whole_run/analysis/probe/accuracy",
        "whole_run/best_val_recon",
    ]
    declared = {m.name.tag for m in exp.metric_infos}
    assert {f"whole_run/analysis/{k}" for k in vocab.ANALYSIS} <= declared

    by_name = {g.name: g for g in groups}
    assert set(by_name) == {p.relative_to(sweep.root).as_posix() for p in sweep.folders.values()}
    term = {}
    for weight, folder in sweep.folders.items():
        group = by_name[folder.relative_to(sweep.root).as_posix()]  # "Trial ID": the folder
        assert group.hparams["regularizer.weight"].number_value == pytest.approx(weight)
        assert [s.status for s in group.sessions] == [1]  # STATUS_SUCCESS
        values = {m.name.tag: m.value for m in group.metric_values}
        metrics = json.loads((folder / "metrics.json").read_text())
        shown = 0
        for tag, (key, _, _) in vocab.declared_metrics("jacobian_fro2").items():
            if key in metrics and isinstance(metrics[key], float):
                assert values[tag] == pytest.approx(metrics[key], rel=1e-6), tag
                shown += 1
        assert {
            "val/jacobian_fro2",
            "whole_run/analysis/probe/accuracy",
            "whole_run/analysis/sparsity/frac_near_zero",
        } <= set(values)
        assert shown >= 20
        term[weight] = values["val/jacobian_fro2"]
    assert term[1.0] < term[1e-4]  # λ = 1 contracts: the unweighted term is smaller


def float64_jacobian_fro2(model, x: torch.Tensor) -> float:
    """mean over samples of ‖∂h/∂x‖²_F, by autograd on the encoder in float64."""
    model = copy.deepcopy(model).double().eval()
    jac = torch.func.vmap(torch.func.jacrev(lambda v: model.encode(v[None])[0]))(x.double())
    return jac.flatten(1).pow(2).sum(1).mean().item()


def test_val_term_is_the_unweighted_penalty_on_the_val_split_every_epoch(sweep):
    from aectl.config.validate import validate
    from aectl.training.build import build

    for weight, folder in sweep.folders.items():
        tags = scalars(folder)
        val_term = tags["val/jacobian_fro2"]
        assert [e.step for e in val_term] == [e.step for e in tags["val/recon"]]  # every epoch
        # one point an epoch: the end of the run once wrote the last epoch's again
        for tag in ("val/recon", "val/jacobian_fro2", "epoch/train_loss", "code/mean_activation"):
            assert len([e.step for e in tags[tag]]) == len({e.step for e in tags[tag]}) == 2, tag
        metrics = json.loads((folder / "metrics.json").read_text())
        assert tags["val/recon"][-1].value == pytest.approx(metrics["val/recon"], rel=1e-6)
        for term, penalty in (
            (val_term, "val/penalty"),
            (tags["epoch/train_jacobian_fro2"], "epoch/train_penalty"),
        ):
            assert len({e.step for e in tags[penalty]}) == 2  # a curve, not one point
            for t, p in zip(term, tags[penalty], strict=True):
                assert t.step == p.step and p.value == pytest.approx(weight * t.value, rel=1e-5)
        cfg = validate(
            compose(*(o for o in COMMAND if "," not in o), f"regularizer.weight={weight}")
        )
        data, model, _ = build(cfg, torch.device("cpu"))
        model.load_state_dict(
            torch.load(folder / "checkpoints" / "last.pt", weights_only=True)["model"]
        )
        want = float64_jacobian_fro2(model, data.val_x)
        assert val_term[-1].value == pytest.approx(want, rel=1e-4)
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["val/jacobian_fro2"] == pytest.approx(want, rel=1e-4)
        assert metrics["train/jacobian_fro2"] == pytest.approx(
            tags["epoch/train_jacobian_fro2"][-1].value
        )


def test_custom_scalars_layout_overlays_train_and_val_and_every_chart_has_data(sweep):
    from tensorboard.plugins.custom_scalar import custom_scalars_plugin

    tb, request, mux = tensorboard_backend(sweep.root)
    layout = json.loads(custom_scalars_plugin.CustomScalarsPlugin(tb).layout_impl(request, ""))
    categories = {c["title"]: c for c in layout["category"]}
    curves = {
        c["title"]: c["multiline"]["tag"]
        for c in categories["reconstruction and penalty, per epoch"]["chart"]
    }
    assert curves["reconstruction: train vs val"] == ["^epoch/train_recon$", "^val/recon$"]
    assert curves["jacobian_fro2: train vs val (unweighted term)"] == [
        "^epoch/train_jacobian_fro2$",
        "^val/jacobian_fro2$",
    ]
    assert any(t.startswith("λ·term") for t in curves)
    assert categories["final values (one point per run)"].get("closed") is True
    assert len(layout["category"]) == 3  # the two runs' layouts merged, nothing repeated
    run_tags = set(scalars(next(iter(sweep.folders.values()))))
    for category in layout["category"]:
        for chart in category["chart"]:
            for regex in chart["multiline"]["tag"]:
                assert any(re.match(regex, t) for t in run_tags), (chart["title"], regex)


def test_config_is_a_text_summary_holding_the_resolved_config(sweep):
    from tensorboard.plugins.text import text_plugin

    tb, request, _ = tensorboard_backend(sweep.root)
    plugin = text_plugin.TextPlugin(tb)
    for folder in sweep.folders.values():
        run = folder.relative_to(sweep.root).as_posix()
        (entry,) = plugin.text_impl(request, run, "config/text_summary", "", True)
        assert entry["step"] == 0
        code = re.search(r"<pre><code[^>]*>(.*?)</code></pre>", entry["text"], re.S)
        assert code is not None, entry["text"][:300]
        shown = yaml.safe_load(html.unescape(code.group(1)))
        assert shown == yaml.safe_load((folder / "config.yaml").read_text())
        # above it, what the model is for its input (README: "logs it to TensorBoard")
        m = json.loads((folder / "metrics.json").read_text())
        head = f"<strong>{m['completeness']}</strong>: a code of {m['code_dim']} units for an "
        assert f"<td><p>{head}input of {m['input_size']} values</p>\n<pre>" in entry["text"]


def test_reconstruction_grid_shows_each_digit_at_64_pixels(sweep):
    """In TensorBoard as in the PNG (the same bytes): 8x8 digits as 64x64 tiles of 8x8
    equal pixels."""
    import io

    import numpy as np
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = sweep.folders[1.0]
    acc = EventAccumulator(str(folder), size_guidance={"images": 0})
    acc.Reload()
    last = acc.Images("reconstructions")[-1]
    img = np.asarray(Image.open(io.BytesIO(last.encoded_image_string)).convert("L"))
    assert img.shape == (2 * 66 + 2, 16 * 66 + 2)
    # the same picture, encoded once: TensorBoard's bytes are the PNG file's
    assert last.encoded_image_string == (folder / "reconstructions" / "epoch_002.png").read_bytes()
    assert (last.height, last.width) == img.shape
    tile = img[2 : 2 + 64, 2 : 2 + 64].reshape(8, 8, 8, 8)  # (row, dy, col, dx)
    assert (tile == tile[:, :1, :, :1]).all()  # nearest neighbour: each pixel a flat 8x8 block
    assert tile.std() > 10


# What the HParams dashboard itself displays (its Polymer table view's own properties),
# once it has them: the hparams and metrics shown without a click, and the trial names.
SHOWN_JS = """
new Promise((resolve) => {
  const seen = new Set();
  function find(root, sel) {
    if (!root || seen.has(root)) return null;
    seen.add(root);
    const hit = root.querySelector(sel);
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) { const r = find(el.shadowRoot, sel); if (r) return r; }
    }
    return null;
  }
  const start = Date.now();
  (function poll() {
    seen.clear();
    const view = find(document, 'tf-hparams-table-view');
    const schema = view && view.visibleSchema;
    const groups = view && view.sessionGroups;
    if (schema && groups && groups.length) {
      resolve(JSON.stringify({
        hparams: schema.hparamInfos.map((h) => h.name),
        metrics: schema.metricInfos.map((m) => m.name.tag),
        groups: groups.map((g) => g.name),
      }));
    } else if (Date.now() - start > 60000) {
      resolve("null");
    } else {
      setTimeout(poll, 500);
    }
  })();
})
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (apt-get install)")
def test_a_real_browser_opens_hparams_with_lambda_first(sweep, tmp_path):
    """TensorBoard's own frontend in headless Chromium (scripts/cdp_shot.py), served by a
    real `tensorboard` on 127.0.0.1: λ is the first of the five hparams it shows."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from conftest import ROOT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(sweep.root),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/data/environment", timeout=1)
                break
            except OSError:
                assert server.poll() is None, "tensorboard exited"
                time.sleep(0.5)
        shot = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "cdp_shot.py"),
             f"http://127.0.0.1:{port}/#hparams", str(tmp_path / "hparams.png"),
             "--wait", "3", "--js", SHOWN_JS],
            capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(30)
    assert shot.returncode == 0, shot.stderr[-2000:]
    shown = json.loads(next(x for x in shot.stdout.splitlines() if x.startswith("js -> "))[6:])
    assert shown is not None, "the HParams table never loaded"
    assert shown["hparams"][0] == "regularizer.weight" and len(shown["hparams"]) == 5
    assert shown["metrics"][:2] == ["val/recon", "val/jacobian_fro2"]
    assert sorted(shown["groups"]) == sorted(
        p.relative_to(sweep.root).as_posix() for p in sweep.folders.values()
    )


@pytest.mark.parametrize("side,factor", [(8, 8), (16, 4), (28, 3), (32, 2), (64, 1), (100, 1)])
def test_reconstruction_tiles_are_at_least_64_pixels_by_whole_pixel_repeats(side, factor):
    """Each input pixel becomes a factor x factor block of the same value, the smallest
    factor reaching 64 px; values are not rescaled (0.25 stays 0.25)."""
    from aectl.record import pictures

    x = torch.full((2, 1, side, side), 0.25)
    x[0, 0, 0, 0] = 1.0
    grid = pictures.image_rows([x, x])
    tile = side * factor
    assert tile >= 64 and (factor == 1 or side * (factor - 1) < 64)
    assert tuple(grid.shape) == (3, 2 * (tile + 2) + 2, 2 * (tile + 2) + 2)
    first = grid[0, 2 : 2 + tile, 2 : 2 + tile]
    assert (first[:factor, :factor] == 1.0).all() and first[factor:, factor:].eq(0.25).all()
