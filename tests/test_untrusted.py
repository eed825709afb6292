"""Run folders are untrusted input: nothing read from one makes aectl call anything but its
own builders (issue 11).

Every payload here is live: `test_the_payloads_are_live` shows that Hydra's own
`instantiate`, given the crafted config the naive way, truncates the victim file, runs the
pickle or touches the marker. The other tests hand the same payloads to aectl through a
checkpoint (`aectl eval`, `--checkpoint last`, `trainer.resume=PATH`, `trainer.resume=auto`
in the crafted folder) and through the files `aectl eval` and `aectl summarize` read
(`.hydra/hydra.yaml`, `config.yaml`, `.hydra/config.yaml`, `multirun.yaml`, `status.json`,
`metrics.json`), and check that the marker never appears and the victim is unchanged; where
aectl refuses, the refusal is one line naming the file, the key and the target, exit code 2.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import pydoc
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import aectl, aectl_here, compose
from omegaconf import OmegaConf

from aectl import cli
from aectl.errors import UserError
from aectl.lock import LOCK_FILE

TINY = (
    "model=linear",
    "trainer.max_epochs=1",
    "trainer.device=cpu",
    "trainer.batch_size=64",
    "trainer.analyze=none",
)
PRECIOUS = "the user's own file\n"
RESOLVER = "aectl_test_touch"  # registered by `sandbox`: resolving it touches the marker


class TouchOnUnpickle:
    """Unpickling this runs `open(marker, "w")`: a stand-in for any code a pickle can run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture(scope="module")
def genuine(tmp_path_factory) -> Path:
    """A real run folder (in-process training) whose checkpoints the tests tamper with."""
    from aectl.training.run import train

    run = tmp_path_factory.mktemp("genuine") / "run"
    run.mkdir()
    train(compose(*TINY), run)
    return run


@pytest.fixture
def sandbox(tmp_path) -> SimpleNamespace:
    """A marker that must never appear, a victim file that must not change, a pickle whose
    loading would create the marker, and a resolver whose call would."""
    s = SimpleNamespace(
        marker=tmp_path / "MARKER", victim=tmp_path / "victim.txt", pickle=tmp_path / "evil.pkl"
    )
    s.victim.write_text(PRECIOUS)
    s.pickle.write_bytes(pickle.dumps(TouchOnUnpickle(s.marker)))
    OmegaConf.register_new_resolver(
        RESOLVER, lambda: s.marker.touch() or "relu", replace=True, use_cache=False
    )
    return s


def untouched(s: SimpleNamespace) -> None:
    assert not s.marker.exists(), "a payload ran"
    assert s.victim.read_text() == PRECIOUS, "the victim file changed"


# group, the crafted node (from the genuine one), the key the refusal names, its target
PAYLOADS = {
    "builtins.open": (
        "dataset",
        lambda s, node: {"_target_": "builtins.open", "file": str(s.victim), "mode": "w"},
        "dataset._target_",
    ),
    "os.system": (
        "arch",
        lambda s, node: {"_target_": "os.system", "_args_": [f"touch '{s.marker}'"]},
        "arch._target_",
    ),
    "torch.load": (
        "regularizer",
        lambda s, node: {"_target_": "torch.load", "f": str(s.pickle), "weights_only": False},
        "regularizer._target_",
    ),
    "subprocess.run": (
        "optim",
        lambda s, node: {"_target_": "subprocess.run", "args": ["touch", str(s.marker)]},
        "optim._target_",
    ),
    "nested in arch.hidden": (
        "arch",
        lambda s, node: {
            **node,
            "hidden": [32, {"_target_": "os.system", "_args_": [f"touch '{s.marker}'"]}],
        },
        "arch.hidden[1]._target_",
    ),
    "_target_ in trainer": (
        "trainer",
        lambda s, node: {"_target_": "os.system", "_args_": [f"touch '{s.marker}'"]},
        "trainer._target_",
    ),
}
TARGETS = {
    "builtins.open": "builtins.open",
    "os.system": "os.system",
    "torch.load": "torch.load",
    "subprocess.run": "subprocess.run",
    "nested in arch.hidden": "os.system",
    "_target_ in trainer": "os.system",
}
# Hydra's other instantiate keys and OmegaConf's interpolations, where aectl never writes them
SMUGGLED = {
    "_args_": ("dataset", lambda s, n: {**n, "_args_": [str(s.victim)]}, "dataset._args_"),
    "_partial_": ("regularizer", lambda s, n: {**n, "_partial_": True}, "regularizer._partial_"),
    "_recursive_": ("arch", lambda s, n: {**n, "_recursive_": True}, "arch._recursive_"),
    "_convert_": ("optim", lambda s, n: {**n, "_convert_": "all"}, "optim._convert_"),
    "a resolver call": (
        "arch",
        lambda s, n: {**n, "activation": "${" + RESOLVER + ":}"},
        "arch.activation",
    ),
}


def crafted(genuine: Path, to: Path, s, payload, which: str = "last") -> Path:
    """A copy of the genuine run whose `which` checkpoint's config carries `payload`."""
    group, make, _ = payload
    run = Path(shutil.copytree(genuine, to))
    path = run / "checkpoints" / f"{which}.pt"
    state = torch.load(path, weights_only=True)
    config = copy.deepcopy(state["config"])
    config[group] = make(s, config[group])
    state["config"] = config
    torch.save(state, path)
    shutil.copy(s.pickle, run / "checkpoints" / "evil.pkl")  # "a pickle next to it"
    return run


def one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("aectl: error: "), err
    assert "Traceback" not in err
    return lines[0]


def refused(line: str, field: str, path: Path, key: str, target: str) -> None:
    assert line.startswith(f"aectl: error: {field}: "), line
    assert str(path) in line and key in line and target in line, line


def naive_build(node):
    """What a config instructs, done the trusting way: interpolations resolved by OmegaConf,
    every `_target_` located and called with its `_args_` and keys (children first, as
    Hydra's recursive instantiate does). Hydra's own `instantiate` refuses a few of these
    targets (its best-effort blocklist has os.system and subprocess.run) but not
    builtins.open or torch.load; aectl must not depend on such a list."""
    if isinstance(node, dict):
        node = {k: naive_build(v) for k, v in node.items()}
        if "_target_" not in node:
            return node
        fn = pydoc.locate(node.pop("_target_"))
        args = node.pop("_args_", [])
        return fn(*args, **{k: v for k, v in node.items() if not k.startswith("_")})
    if isinstance(node, list):
        return [naive_build(v) for v in node]
    return node


@pytest.mark.parametrize("name", [*PAYLOADS, "a resolver call"])
def test_the_payloads_are_live(name, genuine, sandbox):
    """The reference: the crafted node, built by code that trusts it, does the damage (so
    the tests below can fail)."""
    group, make, _ = {**PAYLOADS, **SMUGGLED}[name]
    node = make(sandbox, torch.load(genuine / "checkpoints" / "best.pt")["config"][group])
    try:
        naive_build(OmegaConf.to_container(OmegaConf.create(node), resolve=True))
    except Exception:
        pass  # the damage is done before any error (e.g. arch's builder without input_shape)
    assert sandbox.marker.exists() or sandbox.victim.read_text() != PRECIOUS


@pytest.mark.parametrize("which", ["best", "last"])
@pytest.mark.parametrize("name", list(PAYLOADS))
def test_eval_refuses_a_checkpoint_naming_a_foreign_callable(
    name, which, genuine, sandbox, tmp_path, capsys
):
    run = crafted(genuine, tmp_path / "run", sandbox, PAYLOADS[name], which)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    assert cli.main(["eval", str(run), "--checkpoint", which, "--device", "cpu"]) == 2
    line = one_line(capsys.readouterr().err)
    ckpt = run / "checkpoints" / f"{which}.pt"
    refused(line, "--checkpoint", ckpt, PAYLOADS[name][2], TARGETS[name])
    untouched(sandbox)
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # nothing written


@pytest.mark.parametrize("name", list(SMUGGLED))
def test_eval_refuses_hydra_instantiate_keys_and_interpolations(
    name, genuine, sandbox, tmp_path, capsys
):
    run = crafted(genuine, tmp_path / "run", sandbox, SMUGGLED[name])
    assert cli.main(["eval", str(run), "--device", "cpu"]) == 2
    line = one_line(capsys.readouterr().err)
    # eval's default checkpoint: the one the run's analyses describe (last)
    assert SMUGGLED[name][2] in line and str(run / "checkpoints" / "last.pt") in line, line
    untouched(sandbox)


@pytest.mark.parametrize("name", list(PAYLOADS) + ["a resolver call"])
def test_resume_refuses_a_checkpoint_naming_a_foreign_callable(name, genuine, sandbox, tmp_path):
    """`trainer.resume=PATH` and `trainer.resume=auto` in the crafted folder, in-process."""
    from aectl.training.run import train

    payload = {**PAYLOADS, **SMUGGLED}[name]
    run = crafted(genuine, tmp_path / "run", sandbox, payload, "last")
    ckpt = run / "checkpoints" / "last.pt"
    new = tmp_path / "new"
    new.mkdir()
    for folder, resume in ((new, str(ckpt)), (run, "auto")):
        with pytest.raises(UserError) as e:
            train(compose(*TINY, f"trainer.resume={resume}"), folder)
        assert e.value.field == "trainer.resume" and str(ckpt) in e.value.message
        assert payload[2] in e.value.message and TARGETS.get(name, "${") in e.value.message
        untouched(sandbox)
    assert [p.name for p in new.iterdir() if p.name != LOCK_FILE] == []  # (in-process: its lock)


@pytest.mark.slow
def test_the_real_cli_refuses_crafted_checkpoints_in_one_line(genuine, sandbox, tmp_path):
    """`aectl eval RUN_DIR`, `aectl train trainer.resume=PATH` and `aectl train
    hydra.run.dir=<crafted> trainer.resume=auto`: the first in a real process, the others
    through the same CLI in this one."""
    run = crafted(genuine, tmp_path / "run", sandbox, PAYLOADS["os.system"], "last")
    r = aectl("eval", str(run))
    assert r.returncode == 2, r.stderr
    refused(
        one_line(r.stderr),
        "RUN_DIR",  # what was typed: no --checkpoint was given
        run / "checkpoints/last.pt",
        "arch._target_",
        "os.system",
    )
    untouched(sandbox)

    run = crafted(genuine, tmp_path / "run2", sandbox, PAYLOADS["builtins.open"], "last")
    ckpt = run / "checkpoints" / "last.pt"
    r = aectl_here("train", *TINY, f"trainer.resume={ckpt}", f"hydra.run.dir={tmp_path / 'new'}")
    assert r.returncode == 2, r.stderr
    refused(one_line(r.stderr), "trainer.resume", ckpt, "dataset._target_", "builtins.open")
    untouched(sandbox)

    run = crafted(genuine, tmp_path / "run3", sandbox, PAYLOADS["subprocess.run"], "last")
    ckpt = run / "checkpoints" / "last.pt"
    r = aectl_here("train", *TINY, f"hydra.run.dir={run}", "trainer.resume=auto")
    assert r.returncode == 2, r.stderr
    refused(one_line(r.stderr), "trainer.resume", ckpt, "optim._target_", "subprocess.run")
    untouched(sandbox)


# ---- the other files of a run folder --------------------------------------------------------


def hydra_record(s, cwd: str | None = None) -> str:
    """A `.hydra/hydra.yaml` whose launch folder is `cwd`."""
    return yaml.safe_dump({"hydra": {"runtime": {"cwd": cwd or str(s.victim.parent)}}})


@pytest.mark.parametrize(
    "text,says",
    [
        (
            "hydra:\n  runtime:\n    cwd: !!python/object/apply:os.system ['touch {marker}']\n",
            "python/object/apply:os.system",
        ),
        (
            "hydra:\n  runtime:\n    cwd: !!python/object/apply:builtins.open ['{victim}', 'w']\n",
            "python/object/apply:builtins.open",
        ),
        ("hydra: !!python/name:os.system\n", "python/name:os.system"),
    ],
    ids=["os.system tag", "builtins.open tag", "python/name tag"],
)
def test_eval_refuses_yaml_tags_in_hydras_record(text, says, genuine, sandbox, tmp_path, capsys):
    run = Path(shutil.copytree(genuine, tmp_path / "run"))
    (run / ".hydra").mkdir()
    record = run / ".hydra" / "hydra.yaml"
    record.write_text(text.format(marker=sandbox.marker, victim=sandbox.victim))
    assert cli.main(["eval", str(run), "--device", "cpu"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("aectl: error: RUN_DIR: ") and str(record) in line and says in line
    untouched(sandbox)
    assert not (run / "eval.json").exists()


def test_eval_trusts_only_its_checkpoint_and_writes_only_in_its_folder(
    genuine, sandbox, tmp_path, capsys
):
    """A run folder whose config.yaml, .hydra/config.yaml, status.json and metrics.json carry
    payloads, whose launch folder is a resolver call, and whose eval.json and eval picture
    are links to the victim: eval builds from the checkpoint's config alone, resolves
    nothing, and replaces the links instead of writing through them."""
    run = Path(shutil.copytree(genuine, tmp_path / "run"))
    foreign = {"_target_": "builtins.open", "file": str(sandbox.victim), "mode": "w"}
    bad_config = {"dataset": foreign, "arch": {"_target_": "os.system", "command": "touch x"}}
    (run / "config.yaml").write_text(yaml.safe_dump(bad_config))
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(bad_config))
    (run / ".hydra" / "hydra.yaml").write_text(hydra_record(sandbox, "${" + RESOLVER + ":}"))
    (run / "status.json").write_text(json.dumps({"status": foreign, "pid": -1}))
    (run / "metrics.json").write_text(json.dumps({"_target_": "os.system", "val/recon": "x"}))
    (run / "eval").mkdir()
    for link in (run / "eval.json", run / "eval" / "reconstructions.png"):
        link.symlink_to(sandbox.victim)
    assert cli.main(["eval", str(run), "--device", "cpu"]) == 0, capsys.readouterr().err
    untouched(sandbox)
    assert not (run / "eval.json").is_symlink()
    assert json.loads((run / "eval.json").read_text())["checkpoint"] == "last"


def crafted_sweep(root: Path, s) -> Path:
    """A sweep folder: one job whose every file a summary reads carries payloads."""
    touch = "${" + RESOLVER + ":}"
    job = root / "regularizer.weight=0.1" / "seed=0"
    (job / ".hydra").mkdir(parents=True)
    multirun = {
        "hydra": {
            "sweeper": {"_target_": "os.system", "command": f"touch {s.marker}", "params": None},
            "launcher": {"_target_": "subprocess.run", "args": ["touch", str(s.marker)]},
            "callbacks": {"x": {"_target_": "builtins.open", "file": str(s.victim), "mode": "w"}},
            "overrides": {"task": [f"regularizer.weight={touch}"], "hydra": []},
        },
        "dataset": {"_target_": "torch.load", "f": str(s.pickle), "weights_only": False},
        "trainer": {"monitor": touch},
    }
    (root / "multirun.yaml").write_text(yaml.safe_dump(multirun))
    hydra = {
        "hydra": {
            "mode": "RunMode.MULTIRUN",
            "job": {"num": 0},
            "overrides": {"task": [f"regularizer.weight={touch}", "trainer.seed=0"]},
            "runtime": {"cwd": touch},
        }
    }
    (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    config = {
        "dataset": {"_target_": "builtins.open", "file": str(s.victim), "mode": "w"},
        "trainer": {"max_epochs": touch},
    }
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (job / "config.yaml").write_text(yaml.safe_dump(config))
    status = {"status": "completed", "error": touch, "pid": os.getpid(), "host": "elsewhere"}
    (job / "status.json").write_text(json.dumps(status))
    (job / "metrics.json").write_text(json.dumps({"val/recon": 0.5, "_target_": "os.system"}))
    return root


def test_summarize_reads_a_crafted_sweep_as_data(sandbox, tmp_path, capsys):
    """summarize builds nothing: the foreign targets, resolver calls and pickle paths in
    multirun.yaml, hydra.yaml, config.yaml, status.json and metrics.json are shown or
    ignored as text, never called or resolved."""
    root = crafted_sweep(tmp_path / "sweep", sandbox)
    assert cli.main(["summarize", str(root)]) == 0, capsys.readouterr().err
    untouched(sandbox)
    out = capsys.readouterr().out
    assert "0.5" in out  # the job's metrics.json was read
    assert (root / "summary.csv").is_file()


@pytest.mark.parametrize("where", ["multirun.yaml", "job hydra.yaml", "job config.yaml"])
def test_summarize_constructs_no_yaml_tag(where, sandbox, tmp_path, capsys):
    """A YAML tag that would call os.system is never constructed. (How such a file is shown,
    e.g. "unreadable: <why>", is the summary's own concern.)"""
    root = crafted_sweep(tmp_path / "sweep", sandbox)
    job = root / "regularizer.weight=0.1" / "seed=0"
    tag = f"!!python/object/apply:os.system ['touch {sandbox.marker}']"
    path = {
        "multirun.yaml": root / "multirun.yaml",
        "job hydra.yaml": job / ".hydra" / "hydra.yaml",
        "job config.yaml": job / ".hydra" / "config.yaml",
    }[where]
    path.write_text(f"hydra: {tag}\ntrainer: {tag}\n")
    try:
        cli.main(["summarize", str(root)])
    except Exception:
        pass  # a crash is the summary's concern here; running the payload is ours
    untouched(sandbox)


def test_the_resume_hint_never_resolves_or_constructs_multirun_yaml(sandbox, tmp_path):
    from aectl.training.resume import resume_command

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    touch = "${" + RESOLVER + ":}"
    filed = {"hydra": {"overrides": {"task": [f"regularizer.weight={touch}"], "hydra": []}}}
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(filed))
    hint = resume_command(str(sweep / "job"), ["trainer.seed=0"], [], str(sweep))
    assert "regularizer.weight=${" + RESOLVER + ":}" in hint  # as filed, unresolved
    untouched(sandbox)
    tag = f"hydra: !!python/object/apply:os.system ['touch {sandbox.marker}']\n"
    (sweep / "multirun.yaml").write_text(tag)
    hint = resume_command(str(sweep / "job"), ["trainer.seed=0"], [], str(sweep))
    assert "trainer.seed=0" in hint and "-m" in hint  # the job's own overrides instead
    untouched(sandbox)
