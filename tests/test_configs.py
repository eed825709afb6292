"""Every config composes against its typed schema; bad values fail with the field's name."""

from __future__ import annotations

import pytest
from conftest import TAXONOMY, compose
from hydra.utils import instantiate
from omegaconf import OmegaConf

from aectl.config.validate import validate
from aectl.errors import UserError
from aectl.paths import configs_dir

PRESETS = sorted(p.stem for p in (configs_dir() / "model").glob("*.yaml"))
OVERCOMPLETE = {"sparse", "sparse_kl", "denoising", "contractive", "dropout"}


def test_presets_cover_the_taxonomy():
    assert set(TAXONOMY) <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_composes_validates_and_builds(preset):
    cfg = compose(f"model={preset}")
    validate(cfg)
    model = instantiate(cfg.arch, input_shape=(1, 8, 8))
    reg = instantiate(cfg.regularizer)
    assert model.completeness == ("overcomplete" if preset in OVERCOMPLETE else "undercomplete")
    assert reg.name == OmegaConf.select(cfg, "regularizer._target_").split(".")[-2]


def test_default_is_deep_on_digits():
    cfg = compose()
    assert cfg.dataset._target_ == "aectl.data.digits.load"
    assert list(cfg.arch.hidden) == [128, 64]
    assert cfg.regularizer._target_.endswith("NoRegularizer")


ARCHS = sorted(p.stem for p in (configs_dir() / "arch").glob("*.yaml"))


@pytest.mark.parametrize("arch", ARCHS)
def test_the_default_run_takes_any_architecture(arch):
    """`aectl train arch=conv`: the default preset sets no arch field of its own (its shape
    is arch=mlp's defaults), so every architecture composes with it, with its own defaults."""
    cfg = compose(f"arch={arch}")
    validate(cfg)
    own = OmegaConf.load(configs_dir() / "arch" / f"{arch}.yaml")
    for key, value in own.items():
        if key != "defaults":
            assert cfg.arch[key] == value, key
    instantiate(cfg.arch, input_shape=(1, 8, 8))


def test_cli_overrides_mix_with_presets():
    cfg = compose("model=contractive", "arch.code_dim=512", "regularizer.weight=0.1")
    assert cfg.arch.code_dim == 512 and cfg.arch.tied is True
    assert cfg.regularizer.weight == 0.1 and cfg.regularizer.method == "analytic"


@pytest.mark.parametrize(
    "override,field",
    [
        ("regularizer.weight=-1", "regularizer.weight"),
        ("regularizer.weight=nan", "regularizer.weight"),
        ("arch.code_dim=0", "arch.code_dim"),
        ("optim.lr=0", "optim.lr"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("trainer.batch_size=0", "trainer.batch_size"),
        ("trainer.device=tpu", "trainer.device"),
        ("trainer.loss=l3", "trainer.loss"),
        ("arch.activation=swish9", "arch.activation"),
        ("dataset.val_fraction=1.5", "dataset.val_fraction"),
        ("trainer.seed=-1", "trainer.seed"),
        ("trainer.seed=4294967296", "trainer.seed"),
    ],
)
def test_out_of_range_values_name_their_field(override, field):
    with pytest.raises(UserError) as e:
        validate(compose(override))
    assert str(e.value).startswith(field + ":")


def test_seeds_span_what_every_generator_takes():
    """0..2**32-1: numpy's legacy seeding takes exactly these (the reference)."""
    import numpy as np

    for seed in (0, 2**32 - 1):
        assert validate(compose(f"trainer.seed={seed}")).trainer.seed == seed
        np.random.seed(seed)
    for seed in (-1, 2**32):
        with pytest.raises(ValueError):
            np.random.seed(seed)


@pytest.mark.parametrize(
    "overrides,field",
    [
        (["model=dropout", "regularizer.p=1.5"], "regularizer.p"),
        (["model=denoising", "regularizer.level=-0.1"], "regularizer.level"),
        (
            ["model=denoising", "regularizer.noise=gaussian", "regularizer.level=inf"],
            "regularizer.level",
        ),
        (
            ["model=denoising", "regularizer.noise=gaussian", "regularizer.level=nan"],
            "regularizer.level",
        ),
        (["model=denoising", "regularizer.noise=pink"], "regularizer.noise"),
        (["model=contractive", "regularizer.method=magic"], "regularizer.method"),
        (["model=sparse_kl", "regularizer.target=1"], "regularizer.target"),
    ],
)
def test_regularizer_ranges(overrides, field):
    with pytest.raises(UserError) as e:
        validate(compose(*overrides))
    assert str(e.value).startswith(field + ":")


def test_wrong_type_and_unknown_key_fail_while_composing():
    from hydra.errors import ConfigCompositionException

    from aectl.errors import one_line

    with pytest.raises(ConfigCompositionException) as e:
        compose("arch.code_dim=abc")
    assert one_line(e.value).startswith("arch.code_dim: ")
    with pytest.raises(ConfigCompositionException) as e:
        compose("arch.depth=3")
    msg = one_line(e.value)
    assert msg.startswith("arch.depth: unknown key") and "code_dim" in msg


def test_schema_activation_names_are_the_modules_names():
    """aectl.config.arch checks activation names without torch; aectl.models.activations
    maps them to modules: the two lists must be the same."""
    from aectl.config.arch import ACTIVATIONS
    from aectl.models.activations import MODULES

    assert tuple(MODULES) == ACTIVATIONS


def test_every_schema_target_is_importable_code():
    """Each registered option's `_target_` names a callable in the package (the schemas no
    longer sit beside their code, so nothing else would notice a stale path)."""
    import importlib

    from hydra.core.config_store import ConfigStore

    repo = ConfigStore.instance().repo["schema"]
    seen = 0
    for group, options in repo.items():
        for name, node in options.items():
            target = node.node.get("_target_")
            if not target or target == "???":
                continue
            module, _, attr = target.rpartition(".")
            assert callable(getattr(importlib.import_module(module), attr)), f"{group}/{name}"
            seen += 1
    assert seen >= 20


def test_job_subdir_is_one_safe_folder_level_per_configuration():
    from aectl.config.job_dir import MAX_BYTES, job_subdir

    assert job_subdir("", 3) == "seed=3"  # only the seed given: not "/seed=3"
    assert job_subdir("model=sparse,regularizer.weight=0.1", 0) == (
        "model=sparse,regularizer.weight=0.1/seed=0"
    )
    assert job_subdir("dataset.path=/data/x.npz", 1) == "dataset.path=%2Fdata%2Fx.npz/seed=1"
    distinct = ["a=data/a.npz", "a=data_a.npz", "a=data%2Fa.npz", "a=data%a.npz"]
    assert len({job_subdir(v, 0) for v in distinct}) == len(distinct)
    long_a, long_b = ("dataset.path=/" + "ä" * 300 + c for c in "ab")
    names = [job_subdir(v, 0).split("/") for v in (long_a, long_b)]
    assert all(len(n) == 2 and len(n[0].encode()) <= MAX_BYTES for n in names)
    assert names[0][0] != names[1][0]  # long names differ by their hash


def _multirun(root, task, params=None):
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    hydra = {"overrides": {"task": task}, "sweeper": {"params": params}}
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": hydra}))
    return root


def test_sweep_job_folders_are_named_by_what_differs(tmp_path):
    """Only the swept keys name a job's folder (the constant ones are in multirun.yaml); the
    same sweep command gives the same folders again, distinct jobs never share one."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from aectl.config.job_dir import job_subdir

    command = ["model=contractive", "regularizer.weight=1e-4,1e-2,1", "trainer.max_epochs=1",
               "trainer.seed=0,1", "dataset.path=/in/a.npz,/in/b.npz"]  # fmt: skip
    root = _multirun(tmp_path / "sweep", command)
    (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(command), None)
    names = []
    for task in jobs:
        seed = next(o.split("=")[1] for o in task if o.startswith("trainer.seed="))
        dirname = ",".join(sorted(o for o in task if not o.startswith("trainer.seed=")))
        names.append(job_subdir(dirname, seed, str(root), task))
        assert job_subdir(dirname, seed, str(root), list(task)) == names[-1]  # the same again
    assert len(set(names)) == len(jobs) == 12
    assert "dataset.path=%2Fin%2Fa.npz,regularizer.weight=0.0001/seed=0" in names
    assert all("model=" not in n and "max_epochs" not in n for n in names)


def test_job_folder_of_a_sweep_made_before_the_naming_is_kept(tmp_path):
    """An old sweep's jobs (named after every override) resume where they are; without a
    readable multirun.yaml the name is the old one too; Optuna's search space names trials."""
    from aectl.config.job_dir import job_subdir

    task = ["model=contractive", "regularizer.weight=0.01", "trainer.max_epochs=1"]
    dirname = ",".join(task)
    root = _multirun(tmp_path / "old", ["model=contractive", "regularizer.weight=1e-2,1",
                                        "trainer.max_epochs=1"])  # fmt: skip
    assert job_subdir(dirname, 0, str(root), task) == "regularizer.weight=0.01/seed=0"
    (root / dirname / "seed=0" / ".hydra").mkdir(parents=True)  # made by an older aectl
    assert job_subdir(dirname, 0, str(root), task) == f"{dirname}/seed=0"
    assert job_subdir(dirname, 1, str(root), task) == "regularizer.weight=0.01/seed=1"

    assert job_subdir(dirname, 0, str(tmp_path / "none"), task) == f"{dirname}/seed=0"
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "multirun.yaml").write_text("hydra:\n  overrides: {task: [a=1,\n")
    assert job_subdir(dirname, 0, str(tmp_path / "cut"), task) == f"{dirname}/seed=0"

    optuna = _multirun(tmp_path / "optuna", ["hparams_search=optuna_lambda", "model=contractive"],
                       params={"regularizer.weight": "tag(log, interval(1e-5, 1))"})  # fmt: skip
    trial = ["hparams_search=optuna_lambda", "model=contractive", "regularizer.weight=0.00123"]
    assert job_subdir("model=contractive", 0, str(optuna), trial) == (
        "regularizer.weight=0.00123/seed=0"
    )


def test_train_yaml_names_sweep_jobs_through_the_resolver(tmp_path):
    """`hydra.sweep.subdir` as Hydra resolves it for a job of `aectl train -m ...`."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf, open_dict

    from aectl.paths import configs_dir

    root = _multirun(tmp_path / "sweep", ["model=sparse", "regularizer.weight=0,1e-3"])
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        cfg = compose(
            "train", ["model=sparse", "regularizer.weight=0.001"], return_hydra_config=True
        )
    with open_dict(cfg):
        cfg.hydra.mode, cfg.hydra.sweep.dir = RunMode.MULTIRUN, str(root)
    HydraConfig.instance().set_config(cfg)
    try:
        assert OmegaConf.select(cfg, "hydra.sweep.subdir") == "regularizer.weight=0.001/seed=0"
    finally:
        HydraConfig.instance().cfg = None


def test_each_regularizer_schema_names_the_term_its_class_logs():
    """`term_name` is in the schema (for torch-free readers: HParams, summarize) and in the
    class (the trainer's tags): the two agree; no term is the base class' `penalty_term`."""
    from hydra.utils import get_class

    from aectl.config.metrics import term_names
    from aectl.config.schema import all_schemas

    for name, cls in all_schemas()["regularizer"].items():
        logged = get_class(cls._target_).term_name
        assert logged == (cls.term_name or "penalty_term"), name
    assert set(term_names()) == {"code_l1", "code_kl", "jacobian_fro2", "kl"}


@pytest.mark.parametrize(
    "overrides, note",
    [
        (
            ["regularizer.weight=0.1"],
            "regularizer=none has no penalty term: regularizer.weight=0.1",
        ),
        (["model=denoising", "regularizer.weight=0.1"], "its strength is regularizer.level"),
        (["model=dropout", "regularizer.weight=1e-3"], "its strength is regularizer.p"),
        (["model=contractive", "regularizer.weight=0.1"], None),
        (["regularizer=sparse_l1", "regularizer.weight=0.1"], None),
        ([], None),  # none at its default weight 0: nothing to say
    ],
    ids=["none", "denoising", "dropout", "contractive", "sparse_l1", "default"],
)
def test_a_weight_that_weighs_nothing_gets_a_note(overrides, note):
    """`aectl train -m regularizer.weight=...` on a regularizer without a penalty term
    trains the same model for every value: the run's header says so."""
    from aectl.config.schema import option_of

    reg = validate(compose(*overrides)).regularizer
    got = reg.unused_weight(option_of("regularizer", reg._target_)[0])
    assert (got is None) if note is None else (note in got), got


def test_the_header_prints_the_note(tmp_path):
    from conftest import aectl_here

    r = aectl_here(
        "train", "regularizer.weight=0.1", "trainer.max_epochs=1", "trainer.analyze=none",
        "trainer.device=cpu", f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].endswith("regularizer=none"), lines[0]  # no weight that weighs nothing
    assert lines[1].startswith("note: regularizer=none has no penalty term"), lines[:3]


def test_a_run_folder_names_the_architecture_the_command_line_chose(tmp_path):
    """`aectl train arch=pca` runs in `<time>_deep+pca`: the preset's name alone would say
    `deep`, an MLP. A preset on its own architecture keeps its plain name."""
    from conftest import aectl_here

    from aectl.config.run_name import run_name

    assert run_name("deep", "mlp") == "deep" and run_name("conv", "conv") == "conv"
    assert run_name("deep", "conv") == "deep+conv" and run_name("sparse_kl", "linear") == (
        "sparse_kl+linear"
    )
    assert run_name("no_such_preset", "mlp") == "no_such_preset"
    r = aectl_here("train", "arch=pca", "trainer.device=cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    assert run.name.endswith("_deep+pca") and (run / "metrics.json").is_file()


def test_the_mnist_presets_default_folder_is_the_one_the_missing_file_hint_names():
    """aectl.data.idx names $AECTL_MNIST's default when a preset's file is missing: it must
    be the default every preset's `${oc.env:AECTL_MNIST,...}` falls back to."""
    import re

    from aectl.data.idx import MNIST_DEFAULT, MNIST_ENV

    found = {
        m
        for p in (configs_dir() / "experiment").glob("*.yaml")
        for m in re.findall(r"\$\{oc\.env:(\w+),([^}]*)\}", p.read_text())
    }
    assert found == {(MNIST_ENV, MNIST_DEFAULT)}, found
