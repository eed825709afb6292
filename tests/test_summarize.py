"""`aectl summarize` on sweep folders written here file by file, as aectl writes them (and as
it never would: cut off, of the wrong type, hostile). No training: each job is the files
Hydra, the sweep callback and the trainer leave, with known numbers, so every table cell,
CSV value and panel of summary.png can be checked against them."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from aectl.commands import summarize
from aectl.commands.summarize import PROBE

BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def write_sweep(root: Path, command: list[str], jobs: list[dict], target: str = BASIC) -> Path:
    """A sweep folder: multirun.yaml, then per job `.hydra/{hydra,config,overrides}.yaml`,
    status.json and metrics.json (each job: folder, overrides, regularizer, weight, metrics,
    status; a value of None leaves the file out)."""
    root.mkdir(parents=True, exist_ok=True)
    sweeper = {"_target_": target, "params": None}
    (root / "multirun.yaml").write_text(
        yaml.safe_dump({"hydra": {"overrides": {"task": command}, "sweeper": sweeper}})
    )
    for num, job in enumerate(jobs):
        folder = root / job["folder"]
        (folder / ".hydra").mkdir(parents=True)
        hydra = {
            "mode": "MULTIRUN",
            "job": {"num": num},
            "overrides": {"task": job["overrides"]},
            "runtime": {"choices": {"regularizer": job.get("regularizer", "contractive")}},
        }
        (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": hydra}))
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(job["overrides"]))
        config = {"trainer": {"max_epochs": 3}, "regularizer": {"weight": job.get("weight", 0.0)}}
        (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        if job.get("status", "completed") is not None:
            status = {"status": job.get("status", "completed"), "job": num, "attempt": 1}
            status.update(job.get("status_extra", {}))
            (folder / "status.json").write_text(json.dumps(status))
        if job.get("metrics") is not None:
            (folder / "metrics.json").write_text(json.dumps(job["metrics"]))
    return root


def metrics(recon: float, term: float | None = None, weight: float = 0.0, **more) -> dict:
    """metrics.json as the trainer writes it (a contractive run's term as jacobian_fro2)."""
    out = {
        "val/recon": recon,
        "best_val_recon": recon,
        "train/loss": recon + weight * (term or 0.0),
        "train/recon": recon,
        "train/penalty": weight * (term or 0.0),
        "val/penalty": weight * (term or 0.0),
        "epoch": 3,
        "step": 30,
        "best_epoch": 3,
        "train_time_s": 1.5,
        "completeness": "overcomplete",
        "scaling": {"divide_by": 255},
    }
    if term is not None:
        out |= {"val/jacobian_fro2": term, "train/jacobian_fro2": term * 1.1}
    return out | more


LAMBDAS = {"0.0001": (0.02, 9.0, 0.90), "0.01": (0.03, 2.0, 0.93), "1": (0.08, 0.3, 0.95)}


def contractive_sweep(root: Path, labelled: bool = True) -> Path:
    jobs = []
    for lam, (recon, term, acc) in LAMBDAS.items():
        extra = {"probe/accuracy": acc} if labelled else {}
        jobs.append(
            {
                "folder": f"regularizer.weight={lam}/seed=0",
                "overrides": ["model=contractive", f"regularizer.weight={lam}"],
                "weight": float(lam),
                "metrics": metrics(recon, term, float(lam), **extra),
            }
        )
    command = ["model=contractive", "regularizer.weight=1e-4,1e-2,1"]
    return write_sweep(root, command, jobs)


def png(path: Path) -> Image.Image:
    img = Image.open(path)
    img.load()  # decodes every pixel
    return img


def grid_size(n: int) -> tuple[int, int]:
    """summary.png's pixel size for n panels: 500 x 400 each, three to a row."""
    cols = min(3, n)
    rows = -(-n // cols)
    return cols * 500, rows * 400


def run(root: Path, capsys, *extra: str):
    code = summarize.main([*extra, str(root)])
    out, err = capsys.readouterr()
    table = list(csv.DictReader((root / "summary.csv").open())) if code == 0 else []
    return code, out, err, table


def flat(text: str) -> str:
    return " ".join(text.split())


def test_panels_are_the_regularizers_own_numbers_and_the_regularization_path(tmp_path, capsys):
    root = contractive_sweep(tmp_path / "sweep")
    code, out, err, table = run(root, capsys)
    assert code == 0, err
    sweep = summarize.read_sweep(root)
    chosen = summarize.panels(sweep, summarize.rows(sweep))
    titles = [p.title for p in chosen]
    assert titles == [  # best_val_recon equals val/recon here: not a second, identical panel
        "val/recon",
        "val/jacobian_fro2",
        "probe/accuracy",
        "regularization path: val/recon against val/jacobian_fro2",
    ]
    (path,) = [p for p in chosen if p.kind == "path"].pop().series.values()
    assert path == [(term, recon, lam) for lam, (recon, term, _) in LAMBDAS.items()]
    assert chosen[0].log_x  # λ spans decades: a log axis
    img = png(root / "summary.png")
    assert img.size == grid_size(4)
    assert img.text["Description"] == "; ".join(titles)
    # the table: the swept λ, the constant overrides in the header, the term and the probe
    assert "every job: model=contractive" in flat(out)
    # (the table's metric headers are on two lines: val/ over jacobian_fro2)
    assert "jacobian_fro2" in out and "accuracy" in out and "0.95" in out
    assert [r["val/jacobian_fro2"] for r in table] == ["9.0", "2.0", "0.3"]


def test_without_a_penalty_term_or_labels_there_is_one_panel(tmp_path, capsys):
    jobs = [
        {
            "folder": f"regularizer.level={lvl}/seed=0",
            "overrides": [f"regularizer.level={lvl}"],
            "regularizer": "denoising",
            "metrics": metrics(0.01 * (i + 1)),
        }
        for i, lvl in enumerate(("0.1", "0.3"))
    ]
    root = write_sweep(tmp_path / "sweep", ["model=denoising", "regularizer.level=0.1,0.3"], jobs)
    code, _, err, _ = run(root, capsys)
    assert code == 0, err
    img = png(root / "summary.png")
    assert img.size == grid_size(1) and img.text["Description"] == "val/recon"


def test_two_swept_keys_get_a_heat_map_averaged_over_seeds(tmp_path, capsys):
    jobs, want = [], {}
    for lam in ("0.01", "1"):
        for lr in ("0.001", "0.01"):
            for seed in (0, 1):
                recon = float(lam) + float(lr) * 10 + seed * 0.001
                want.setdefault((lam, lr), []).append(recon)
                overrides = [f"optim.lr={lr}", f"regularizer.weight={lam}", f"trainer.seed={seed}"]
                jobs.append(
                    {
                        "folder": f"optim.lr={lr},regularizer.weight={lam}/seed={seed}",
                        "overrides": overrides,
                        "weight": float(lam),
                        "metrics": metrics(recon, 1.0 / (1 + float(lam)), float(lam)),
                    }
                )
    command = ["regularizer.weight=1e-2,1", "optim.lr=1e-3,1e-2", "trainer.seed=0,1"]
    root = write_sweep(tmp_path / "sweep", command, jobs)
    code, _, err, _ = run(root, capsys)
    assert code == 0, err
    sweep = summarize.read_sweep(root)
    chosen = summarize.panels(sweep, summarize.rows(sweep))
    heat = chosen[-1]
    assert heat.kind == "heatmap" and heat.x_label == "regularizer.weight"
    assert heat.y_label == "optim.lr" and "mean over seeds" in heat.title
    cells = {(c, r): v for c, r, v in heat.series[""]}
    assert cells.keys() == want.keys()
    for k, v in want.items():
        assert cells[k] == pytest.approx(sum(v) / 2)
    assert png(root / "summary.png").size == grid_size(len(chosen))


def test_an_old_sweep_still_summarizes_with_its_path_from_the_penalty(tmp_path, capsys):
    """A sweep made before val/<term> existed (folders named after every override): its
    path uses val/penalty / λ, which is the term (penalty = λ · term)."""
    jobs = []
    for lam, (recon, term, _) in LAMBDAS.items():
        m = metrics(recon, None, float(lam))
        m["val/penalty"] = float(lam) * term
        jobs.append(
            {
                "folder": f"model=contractive,regularizer.weight={lam},trainer.max_epochs=3/seed=0",
                "overrides": [
                    "model=contractive",
                    f"regularizer.weight={lam}",
                    "trainer.max_epochs=3",
                ],
                "weight": float(lam),
                "metrics": m,
                "status": None,  # before status.json
            }
        )
    root = write_sweep(tmp_path / "old", ["model=contractive", "regularizer.weight=1e-4,1e-2,1",
                                          "trainer.max_epochs=3"], jobs)  # fmt: skip
    code, out, err, table = run(root, capsys)
    assert code == 0, err
    assert [r["status"] for r in table] == ["completed"] * 3
    sweep = summarize.read_sweep(root)
    (path,) = [p for p in summarize.panels(sweep, summarize.rows(sweep)) if p.kind == "path"]
    got = path.series[""]
    assert [p[2] for p in got] == list(LAMBDAS)
    for (x, y, _), (recon, term, _) in zip(got, LAMBDAS.values(), strict=True):
        assert x == pytest.approx(term) and y == recon


BROKEN = {
    "metrics cut off": ("metrics.json", '{"val/recon": 0.5, "best_val_r', "not valid JSON"),
    "metrics a list": ("metrics.json", "[0.5, 0.6]", "a list, not a mapping"),
    "metrics a string": ("metrics.json", '"0.5"', "not a mapping"),
    "numbers as strings": ("metrics.json", '{"val/recon": "0.5"}', "'val/recon' is the string"),
    "status a list": ("status.json", '["completed"]', "a list, not a mapping"),
    "status cut off": ("status.json", '{"status": "compl', "not valid JSON"),
    "status of no kind": ("status.json", '{"status": 3}', "status is int; allowed"),
    "attempt as a string": (
        "status.json",
        '{"status": "completed", "attempt": "2"}',
        "attempt is the string",
    ),
    "hydra.yaml cut off": (".hydra/hydra.yaml", "hydra:\n  job: {num: [1,\n", "does not parse"),
    "hydra.yaml a list": (".hydra/hydra.yaml", "- 1\n- 2\n", "no `hydra:` mapping"),
    "python object": (
        ".hydra/hydra.yaml",
        "hydra: !!python/object/apply:os.system ['touch PWNED']\n",
        "does not parse",
    ),
}


def test_a_damaged_job_is_one_unreadable_row_and_the_rest_is_summarized(tmp_path, capsys):
    root = contractive_sweep(tmp_path / "sweep")
    base = root / "regularizer.weight=0.01/seed=0"
    extra = []
    for i, (name, (file, text, _)) in enumerate(BROKEN.items()):
        job = root / f"broken={i}" / "seed=0"
        (job / ".hydra").mkdir(parents=True)
        for f in ("hydra.yaml", "overrides.yaml", "config.yaml"):
            (job / ".hydra" / f).write_bytes((base / ".hydra" / f).read_bytes())
        (job / "status.json").write_text('{"status": "completed"}')
        (job / "metrics.json").write_text(json.dumps(metrics(0.5)))
        (job / file).write_text(text)
        extra.append((f"broken={i}/seed=0", name))
    code, out, err, table = run(root, capsys)
    assert code == 0, err
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()  # nothing was run
    rows = {r["folder"]: r for r in table}
    for folder, name in extra:
        row = rows[folder]
        file, _, why = BROKEN[name]
        assert row["status"] == "unreadable", name
        assert row["error"].startswith(Path(file).name) and why in row["error"], (
            name,
            row["error"],
        )
        assert row["val/recon"] == ""  # nothing from a job that cannot be read
        assert f"unreadable: {folder}: {row['error']}" in out.splitlines()
    for lam, (recon, _, _) in LAMBDAS.items():  # the readable jobs, as before
        row = rows[f"regularizer.weight={lam}/seed=0"]
        assert row["status"] == "completed" and float(row["val/recon"]) == recon
    assert f"{len(BROKEN)} unreadable" in flat(out) and "3 completed" in flat(out)
    assert png(root / "summary.png").size == grid_size(4)  # the path from the readable jobs


def test_a_multirun_yaml_that_does_not_parse_is_said_and_the_jobs_summarized(tmp_path, capsys):
    root = contractive_sweep(tmp_path / "sweep")
    (root / "multirun.yaml").write_text("hydra:\n  overrides: {task: [model=contractive,\n")
    code, out, err, table = run(root, capsys)
    assert code == 0, err
    assert "unreadable: multirun.yaml does not parse" in flat(out)
    assert [r["regularizer.weight"] for r in table] == list(LAMBDAS)  # swept: from the jobs
    (root / "multirun.yaml").write_text("[1, 2]\n")
    code, out, err, _ = run(root, capsys)
    assert code == 0 and "unreadable: multirun.yaml is not a Hydra config" in flat(out)


def test_every_failed_jobs_error_is_in_the_table_and_the_csv(tmp_path, capsys):
    errors = [
        "regularizer.weight: got -1.0; allowed: a finite number >= 0",
        "trainer.batch_size: got 5000; allowed: 1..1617 (the training split holds 1617 samples)",
        "RuntimeError: CUDA out of memory",
    ]
    jobs = [
        {
            "folder": f"regularizer.weight={w}/seed=0",
            "overrides": [f"regularizer.weight={w}"],
            "status": "failed",
            "status_extra": {"error": e},
        }
        for w, e in zip(("-1", "2", "3"), errors, strict=True)
    ]
    jobs.append(
        {
            "folder": "regularizer.weight=0.1/seed=0",
            "overrides": ["regularizer.weight=0.1"],
            "metrics": metrics(0.05, 1.0, 0.1),
        }
    )
    root = write_sweep(tmp_path / "sweep", ["regularizer.weight=-1,2,3,0.1"], jobs)
    code, out, err, table = run(root, capsys)
    assert code == 0, err
    assert [r["error"] for r in table[:3]] == errors
    for row, e in zip(table, errors, strict=False):  # each one whole, on a line of its own
        assert f"failed: {row['folder']}: {e}" in out.splitlines(), e
    assert "3 failed" in flat(out)


def test_summary_files_are_written_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    """A write killed half way leaves the previous summary.png and summary.csv as they were."""
    from matplotlib.figure import Figure

    root = contractive_sweep(tmp_path / "sweep")
    assert run(root, capsys)[0] == 0
    before = {n: (root / n).read_bytes() for n in ("summary.png", "summary.csv")}

    def killed_savefig(self, f, **kw):
        f.write(b"\x89PNG\r\n\x1a\n half a picture")
        raise KeyboardInterrupt  # the process dies here

    monkeypatch.setattr(Figure, "savefig", killed_savefig)
    with pytest.raises(KeyboardInterrupt):
        summarize.main([str(root)])

    def killed_rows(self, rows):
        self.writerow(rows[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerows", killed_rows)
    with pytest.raises(KeyboardInterrupt):
        summarize.main([str(root)])
    assert {n: (root / n).read_bytes() for n in before} == before
    assert not list(root.glob(".*.tmp"))


@pytest.mark.slow
def test_summarize_reads_a_sweep_without_importing_torch(tmp_path):
    import subprocess

    root = contractive_sweep(tmp_path / "sweep")
    code = (
        "import sys\nfrom aectl.commands import summarize\n"
        f"assert summarize.main([{str(root)!r}]) == 0\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "TORCH False" in r.stdout


SHAPES = [
    [],
    "text",
    7,
    None,
    {"hydra": []},
    {"hydra": {"overrides": ["a=1"]}},
    {"hydra": {"overrides": {"task": [1, 2]}}},
    {"hydra": {"overrides": {"task": "a=1,2"}}},
    {"hydra": {"sweeper": [1]}, "trainer": 3},
    {"hydra": {"sweeper": {"_target_": "x.optuna.Sweeper", "params": [1], "direction": 1}}},
    {"hydra": {"job": {"num": "1"}, "mode": ["MULTIRUN"]}},
    {"hydra": {"mode": "MULTIRUN", "runtime": {"choices": []}, "job": []}},
    {"status": "running", "pid": -5, "host": 3},
    {"best_params": [1], "best_value": "x"},
    {"val/recon": [0.5], "epoch": None},
    {"val/recon": float("nan"), "val/jacobian_fro2": True},
]
FILES = [
    "multirun.yaml",
    "optimization_results.yaml",
    "regularizer.weight=0.01/seed=0/.hydra/hydra.yaml",
    "regularizer.weight=0.01/seed=0/.hydra/config.yaml",
    "regularizer.weight=0.01/seed=0/.hydra/overrides.yaml",
    "regularizer.weight=0.01/seed=0/status.json",
    "regularizer.weight=0.01/seed=0/metrics.json",
]


@pytest.mark.parametrize("name", FILES)
def test_no_shape_of_a_sweep_file_makes_summarize_crash(tmp_path, capsys, monkeypatch, name):
    """Each file aectl reads, replaced by data of every wrong shape: a table, never a traceback.
    (summary.png's panels are chosen, not drawn: drawing reads nothing more.)"""
    chosen = []
    monkeypatch.setattr(
        summarize, "plot", lambda sweep, table, path, first=None: chosen.append(
            summarize.panels(sweep, table, first)
        ) or path
    )  # fmt: skip
    for i, shape in enumerate(SHAPES):
        root = contractive_sweep(tmp_path / str(i))
        text = json.dumps(shape) if name.endswith(".json") else yaml.safe_dump(shape)
        (root / name).write_text(text)
        code, out, err, table = run(root, capsys)
        assert code == 0 and err == "", (shape, err)
        assert len(table) == 3 and chosen[-1], shape


def _run_alone(folder: Path) -> Path:
    """A run's folder as `aectl train` (no -m) leaves it: Hydra's RUN mode, no job number."""
    (folder / ".hydra").mkdir(parents=True)
    hydra = {"mode": "RunMode.RUN", "job": {"num": "???"}, "overrides": {"task": []}}
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": hydra}))
    (folder / "metrics.json").write_text(json.dumps(metrics(0.05)))
    return folder


def test_a_folder_of_sweeps_or_of_runs_is_refused_and_nothing_written(tmp_path, capsys):
    """outputs/ (several sweeps, and runs alone) is not one sweep: one line naming the
    sweeps in it; a folder of runs alone holds no sweep (its runs are not 'unreadable')."""
    for name in ("a", "b"):
        contractive_sweep(tmp_path / "sweeps" / name)
    _run_alone(tmp_path / "runs" / "r1")
    _run_alone(tmp_path / "runs" / "r2")
    code, out, err, _ = run(tmp_path, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, (out, err)
    assert err.startswith(f"aectl: error: SWEEP_DIR: {str(tmp_path)!r} holds 2 sweep folders")
    assert str(tmp_path / "sweeps" / "a") in err and str(tmp_path / "sweeps" / "b") in err
    code, out, err, _ = run(tmp_path / "runs", capsys)
    assert code == 2 and "holds no sweep" in err and "unreadable" not in out + err
    code, out, err, _ = run(tmp_path / "runs" / "r1", capsys)  # a run: eval gives its numbers
    assert code == 2 and err.count("\n") == 1, err
    assert (
        f"is a single run, not a sweep (for its numbers: aectl eval {tmp_path / 'runs' / 'r1'})"
        in err
    )
    assert not list(tmp_path.glob("**/summary.*"))
    # a run alone kept inside a sweep folder is not one of its jobs, nor unreadable
    _run_alone(tmp_path / "sweeps" / "a" / "extra_run")
    code, out, err, table = run(tmp_path / "sweeps" / "a", capsys)
    assert code == 0 and "unreadable" not in out and len(table) == len(LAMBDAS)


def test_a_narrow_terminal_gets_every_value_whole(tmp_path, capsys, monkeypatch):
    """On an 80-column terminal rich would squeeze the table until values read `0.…`:
    it is printed at its own width instead (the terminal wraps it), nothing cut."""
    import sys

    root = contractive_sweep(tmp_path / "sweep")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _, table = run(root, capsys)
    assert code == 0
    assert "…" not in out, out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == len(table) == 3
    for row, line in zip(table, rows):  # each row on one line, its values whole
        assert max(len(line) for line in rows) > 80
        assert row["val/recon"][:6] in line and row["regularizer.weight"] in line, line


def test_a_job_without_metrics_shows_its_best_epoch_so_far_from_its_events(tmp_path):
    """An interrupted or running job's row: its last epoch, and its best epoch and val/recon
    so far (read back from the events; an epoch a resumed job logged again counts once, as
    logged last), and every per-epoch number, the regularizer's own term included."""
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for step, value in ((10, 0.5), (20, 0.3), (30, 0.4), (20, 0.45), (30, 0.41), (40, 0.42)):
        w.add_scalar("val/recon", value, step)
        w.add_scalar("val/jacobian_fro2", 10 * value, step)
        w.add_scalar("epoch/train_penalty", value / 10, step)
        w.add_scalar("epoch/train_jacobian_fro2", 20 * value, step)
        w.add_scalar("train/loss", 7.0, step)  # a per-step curve: not a metrics.json key
    w.add_scalar("whole_run/analysis/probe/accuracy", 0.9, 40)
    w.close()
    live = summarize._live_metrics(tmp_path)
    assert live["epoch"] == 4 and live["step"] == 40
    assert live["best_epoch"] == 3 and live["best_val_recon"] == pytest.approx(0.41)
    assert live["val/recon"] == pytest.approx(0.42)
    assert live["val/jacobian_fro2"] == pytest.approx(4.2)
    assert live["train/penalty"] == pytest.approx(0.042)
    assert live["train/jacobian_fro2"] == pytest.approx(8.4)
    assert "train/loss" not in live and not any("probe" in k for k in live)


def test_the_probe_panel_has_binomial_error_bars_over_the_scored_samples(tmp_path, capsys):
    """probe/accuracy ± √(p(1−p)/n), n the size of the split metrics.json's `analyzed` names
    (one test digit out of 180 moves the accuracy by 0.0056: the bars say what is noise)."""
    import math

    root = contractive_sweep(tmp_path / "sweep")
    for path in root.glob("*/seed=0/metrics.json"):
        m = json.loads(path.read_text())
        m |= {"splits": {"train": 1437, "val": 180, "test": 150}, "analyzed": {"split": "test"}}
        path.write_text(json.dumps(m))
    code, _, err, _ = run(root, capsys)
    assert code == 0, err
    sweep = summarize.read_sweep(root)
    (probe,) = [p for p in summarize.panels(sweep, summarize.rows(sweep)) if p.title == PROBE]
    accuracy = {job: y for pts in probe.series.values() for _, y, job in pts}
    assert probe.errors == {
        j: pytest.approx(math.sqrt(p * (1 - p) / 150)) for j, p in accuracy.items()
    }
    assert len(probe.errors) == 3 and probe.y_label.endswith("(± 1 standard error)")
    # without the sizes (a sweep from before they were saved): no bars, as before
    sweep = summarize.read_sweep(contractive_sweep(tmp_path / "old"))
    (probe,) = [p for p in summarize.panels(sweep, summarize.rows(sweep)) if p.title == PROBE]
    assert probe.errors == {} and probe.y_label == PROBE


def test_path_labels_leave_out_points_that_crowd_a_labelled_one():
    # pixels: the second is under the first's label, the third is clear of it, the fourth
    # is level with the first but far to the right
    got = summarize.apart([(100, 100), (120, 105), (100, 130), (300, 100), (301, 131)])
    assert got == [True, False, True, True, True]


def test_a_line_keeps_its_colour_in_every_panel():
    """A panel holding only some lines (a term only the sparse jobs have) once coloured the
    sparse line as the first, the colour the contractive line has elsewhere (a trial found
    it in a `model=contractive,sparse` sweep)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    Panel = summarize.Panel
    both = Panel(
        "val/recon",
        "path",
        "x",
        "y",
        {"model=contractive": [(1, 2, 0)], "model=sparse": [(2, 3, 1)]},
    )
    sparse_only = Panel("path", "path", "x", "y", {"model=sparse": [(1, 1, 1)]})
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = summarize.colors_by_label([both, sparse_only], cycle)
    assert colors == {"model=contractive": cycle[0], "model=sparse": cycle[1]}
    drawn = []
    for p in (both, sparse_only):
        ax = Figure().subplots()
        summarize._draw_path(ax, p, "model", colors)
        drawn.append({line.get_label(): line.get_color() for line in ax.lines})
    assert drawn[1]["model=sparse"] == drawn[0]["model=sparse"] == cycle[1]


def test_seeds_are_averaged_into_one_line_with_their_spread(tmp_path, capsys):
    """A λ × seed sweep: one line, each point the seeds' mean with ± their standard
    deviation (it once drew a line per seed); the path's points are the means too."""
    import statistics

    jobs, recon = [], {}
    for lam, (base, term, acc) in LAMBDAS.items():
        for seed in (0, 1, 2):
            r = base + 0.001 * seed**2
            recon.setdefault(lam, []).append(r)
            jobs.append(
                {
                    "folder": f"regularizer.weight={lam}/seed={seed}",
                    "overrides": [f"regularizer.weight={lam}", f"trainer.seed={seed}"],
                    "weight": float(lam),
                    "metrics": metrics(r, term + seed, float(lam), **{"probe/accuracy": acc}),
                }
            )
    root = write_sweep(
        tmp_path / "sweep", ["regularizer.weight=1e-4,1e-2,1", "trainer.seed=0,1,2"], jobs
    )
    code, _, err, _ = run(root, capsys)
    assert code == 0, err
    sweep = summarize.read_sweep(root)
    chosen = summarize.panels(sweep, summarize.rows(sweep))
    val = next(p for p in chosen if p.title == "val/recon")
    assert val.y_label == "val/recon (mean ± std over 3 seeds)"
    ((label, pts),) = val.series.items()
    assert [x for x, _, _ in pts] == [float(lam) for lam in LAMBDAS]
    for (_, y, key), lam in zip(pts, LAMBDAS):
        assert y == pytest.approx(statistics.fmean(recon[lam]))
        assert val.errors[key] == pytest.approx(statistics.stdev(recon[lam]))
    path = next(p for p in chosen if p.kind == "path")
    ((_, path_pts),) = path.series.items()
    assert sorted(round(t, 6) for t, _, _ in path_pts) == sorted(
        round(term + 1, 6) for _, term, _ in LAMBDAS.values()
    )
    assert png(root / "summary.png").size == grid_size(len(chosen))


@pytest.mark.parametrize(
    "xs, labels",
    [
        ([0.5, 1, 2, 4], ["0.5", "1", "2", "4"]),  # a β sweep: under a decade
        ([10 ** (-5 + 5 * i / 15) for i in range(16)], None),  # 16 λ over five decades
    ],
)
def test_a_log_lambda_axis_labels_do_not_run_into_one_another(xs, labels):
    """The x labels drawn on a λ panel (matplotlib's own text extents) are apart; a few
    swept values are labelled themselves. Matplotlib's minor labels (3×10⁰, 4×10⁰) collided
    on a β = 0.5, 1, 2, 4 sweep."""
    from aectl.commands.summarize import log_x
    from aectl.record import pictures

    fig, ax = pictures.pyplot().subplots(figsize=(5, 4))
    ax.plot(xs, range(len(xs)), "o-")
    log_x(ax, xs)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    shown = [
        t
        for t in ax.get_xticklabels(which="both")
        if t.get_visible()
        and t.get_text()
        and ax.get_xlim()[0] <= t.get_position()[0]
        and t.get_position()[0] <= ax.get_xlim()[1]
    ]
    boxes = sorted((t.get_window_extent(renderer) for t in shown), key=lambda b: b.x0)
    assert len(boxes) >= 2
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), [t.get_text() for t in shown]
    if labels is not None:
        assert [t.get_text() for t in shown] == labels
    pictures.pyplot().close(fig)


def test_a_job_resumed_alone_with_a_change_shows_what_it_was_trained_with(tmp_path, capsys):
    """A sweep job continued alone to 5 epochs (its `.hydra/resume_<time>/` record) is not
    listed under "every job: trainer.max_epochs=3": the value differs, and is a column."""
    jobs = [
        {
            "folder": f"regularizer.weight={w}/seed=0",
            "overrides": ["model=contractive", f"regularizer.weight={w}", "trainer.max_epochs=3"],
            "weight": float(w),
            "metrics": metrics(0.05, 0.1, float(w)),
        }
        for w in ("0.01", "0.1")
    ]
    root = write_sweep(
        tmp_path / "s",
        ["model=contractive", "regularizer.weight=0.01,0.1", "trainer.max_epochs=3"],
        jobs,
    )
    resumed = root / jobs[1]["folder"] / ".hydra"
    for when, epochs in (("2026-01-01_00-00-00", 4), ("2026-01-02_00-00-00", 5)):
        (resumed / f"resume_{when}").mkdir()
        (resumed / f"resume_{when}" / "overrides.yaml").write_text(
            yaml.safe_dump(
                [
                    "model=contractive",
                    "regularizer.weight=0.1",
                    f"trainer.max_epochs={epochs}",
                    "trainer.resume=auto",
                ]
            )  # fmt: skip
        )
    code, out, err, table = run(root, capsys)
    assert code == 0, err
    header = [x.strip() for x in out.splitlines() if x.startswith("every job: ")]
    assert header == ["every job: model=contractive"], out
    assert [r["trainer.max_epochs"] for r in table] == ["3", "5"]  # the latest resume's
    assert "trainer.resume" not in table[0]


def test_a_piped_table_has_no_trailing_blanks(tmp_path, capsys):
    """Piped (not a terminal), the table's lines end at their last character: rich padded
    each to the table's width (185 characters and more)."""
    root = contractive_sweep(tmp_path / "s")
    code, out, err, _ = run(root, capsys)
    assert code == 0, err
    assert out.strip() and all(line == line.rstrip() for line in out.splitlines()), [
        line for line in out.splitlines() if line != line.rstrip()
    ][:2]


def test_a_seed_sweep_is_drawn_as_points_per_seed_not_as_a_path(tmp_path, capsys):
    """Seeds are labels, not amounts: each a column of its own, the points not joined by a
    line, and the term against val/recon is one point per seed, not a "regularization
    path" (a trial found both drawn as curves over a continuous seed axis)."""
    jobs = [
        {
            "folder": f"seed={seed}",
            "overrides": [f"trainer.seed={seed}"],
            "weight": 1e-3,
            "metrics": metrics(0.05 + 0.001 * seed, 2.0 + seed, 1e-3),
        }
        for seed in (0, 1, 2)
    ]
    root = write_sweep(tmp_path / "sweep", ["trainer.seed=0,1,2"], jobs)
    code, _, err, _ = run(root, capsys)
    assert code == 0, err
    sweep = summarize.read_sweep(root)
    chosen = summarize.panels(sweep, summarize.rows(sweep))
    val = next(p for p in chosen if p.title == "val/recon")
    assert val.categories == ["0", "1", "2"] and not val.log_x and not val.joined
    path = next(p for p in chosen if p.kind == "path")
    assert path.title == "one point per trainer.seed: val/recon against val/jacobian_fro2"
    assert not path.joined
    png(root / "summary.png")  # draws, and decodes
    lr = [
        {
            "folder": f"optim.lr={lr}/seed=0",
            "overrides": [f"optim.lr={lr}"],
            "weight": 1e-3,
            "metrics": metrics(0.05 + lr, 2.0 + lr, 1e-3),
        }
        for lr in (1e-3, 1e-2)
    ]
    root = write_sweep(tmp_path / "lr", ["optim.lr=1e-3,1e-2"], lr)
    sweep = summarize.read_sweep(root)
    path = next(p for p in summarize.panels(sweep, summarize.rows(sweep)) if p.kind == "path")
    assert path.title == "one point per optim.lr: val/recon against val/jacobian_fro2"
    assert path.joined  # (a learning rate is an amount)
