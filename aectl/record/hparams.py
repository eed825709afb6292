"""TensorBoard HParams for one run, written into the run's OWN event file.

`SummaryWriter.add_hparams` writes into a separate sub-folder, so the HParams table shows a
second run with one point per metric. Here the run's writer gets the experiment (every
hparam and every metric declared up front) and the session start info when training starts,
the final metrics as ordinary scalars under the declared tags, and the session end at the
end: the HParams table and parallel-coordinates view then show each job's real values, and
running jobs show their latest epoch.

TensorBoard uses the first experiment it finds under a logdir, so every job declares the
same hparams: a fixed list (the group choices and the knobs people sweep) plus the keys
the job overrides, which every job of one sweep shares. The keys that differ between a
sweep's jobs (those its command line sweeps, from the sweep's `multirun.yaml`; for a single
run, those set on the command line) are declared with `differs=True`, which TensorBoard
shows first, as the table's first columns and the parallel-coordinates view's first axes;
each session's group (the table's "Trial ID") is the job's folder name. TensorBoard's
protos have no axis-scale field: a log-scale knob (`knob(scale="log")`, e.g. λ) says in its
description where to switch its axis to Logarithmic. Integration: `declare(writer, cfg,
term=..., run_dir=...)` after the writer is made, `finish(writer, metrics)` once
metrics.json's values are known.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from aectl.config.job_dir import swept_keys
from aectl.config.metrics import declared_metrics, final_metrics
from aectl.config.schema import knobs

# Config groups shown as categorical hparams (their option names).
GROUPS = ("dataset", "model", "arch", "regularizer", "optim")
LOG_AXIS = (
    "log scale: in the Parallel Coordinates or Scatter Plot Matrix view, choose Logarithmic "
    "for this axis (not offered when a value is 0)"
)


def fields() -> tuple[str, ...]:
    """Config values every job declares, whether or not its options have them: every
    hyperparameter a schema declares (`aectl.config.schema.knob`)."""
    return tuple(knobs())


def _hydra() -> Any:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def _option_names(group: str) -> list[str]:
    from aectl.paths import configs_dir

    return sorted(p.stem for p in (configs_dir() / group).glob("*.yaml"))


def _choice(cfg: DictConfig, group: str, choices: Mapping[str, Any]) -> str | None:
    if choices.get(group) is not None:
        return str(choices[group])
    target = OmegaConf.select(cfg, f"{group}._target_", default=None)  # outside Hydra (tests)
    if target is None:
        return None
    parts = str(target).split(".")
    return parts[-1].lower() if group == "optim" else parts[-2]


def _scalar(value: Any) -> Any:
    if isinstance(value, (ListConfig, DictConfig)):
        value = OmegaConf.to_container(value, resolve=True)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def values(cfg: DictConfig) -> dict[str, Any]:
    """This job's hyperparameters, by the names Hydra overrides use (None: not applicable)."""
    hc = _hydra()
    choices = dict(hc.runtime.choices) if hc is not None else {}
    keys = [
        k
        for k in (o.split("=", 1)[0].lstrip("+~") for o in (hc.overrides.task if hc else []))
        if not k.startswith("hydra") and k not in GROUPS and k not in fields()
    ]
    out: dict[str, Any] = {g: _choice(cfg, g, choices) for g in GROUPS}
    for key in (*fields(), *keys):
        out[key] = (
            choices[key] if key in choices else _scalar(OmegaConf.select(cfg, key, default=None))
        )
    return out


def _domain(name: str, value: Any) -> Any:
    from tensorboard.plugins.hparams import summary_v2 as hp

    if name in GROUPS:
        names = _option_names(name)
        return hp.Discrete(names) if names and (value is None or value in names) else None
    knob = knobs().get(name)
    if knob is not None and knob.choices:
        return hp.Discrete(list(knob.choices))
    if isinstance(value, bool):
        return hp.Discrete([False, True])
    if isinstance(value, (int, float)) or (value is None and knob is not None):
        return hp.RealInterval(-math.inf, math.inf)  # numeric column; the UI's filter starts open
    return None  # free text (lists, paths)


def _override_keys(overrides: Iterable[Any]) -> list[str]:
    keys = (str(o).split("=", 1)[0].lstrip("+~") for o in overrides)
    return [k for k in dict.fromkeys(keys) if not k.startswith("hydra")]


def differing(names: Iterable[str]) -> list[str]:
    """The hparams that differ between this job and the others it is compared with: a
    sweep's swept keys (its `multirun.yaml`; every job of the sweep reads the same), or a
    single run's command-line keys. Only names among `names` (the declared hparams)."""
    hc = _hydra()
    if hc is None:
        return []
    if str(hc.mode).endswith("MULTIRUN"):
        keys = swept_keys(str(hc.sweep.dir)) or []
    else:
        keys = _override_keys(hc.overrides.task)
    declared = set(names)
    return [k for k in keys if k in declared]


def group_name(run_dir: str | Path | None) -> str:
    """The session group (HParams' "Trial ID"): a sweep job's folder under the sweep
    (`regularizer.weight=0.01/seed=0`), a single run's folder name; "" without a folder."""
    if run_dir is None:
        return ""
    run_dir = Path(run_dir).resolve()
    hc = _hydra()
    if hc is not None and str(hc.mode).endswith("MULTIRUN"):
        try:
            return run_dir.relative_to(Path(str(hc.sweep.dir)).resolve()).as_posix()
        except ValueError:
            pass
    return run_dir.name


def _hparam(name: str, value: Any) -> Any:
    from tensorboard.plugins.hparams import summary_v2 as hp

    knob = knobs().get(name)
    log = knob is not None and knob.scale == "log"
    return hp.HParam(name, _domain(name, value), description=LOG_AXIS if log else None)


def _experiment(hparams: list[Any], metrics: list[Any], differs: Iterable[str], now: float):
    """`hp.hparams_config_pb` with `HParamInfo.differs` set on `differs` (the writer has
    no argument for it; TensorBoard sorts those first)."""
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.plugins.hparams import summary_v2 as hp

    differs = set(differs)
    summary = hp.hparams_config_pb(hparams, metrics, time_created_secs=now)
    value = summary.value[0]
    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in differs
    value.metadata.plugin_data.content = data.SerializeToString()
    return summary


def declare(
    writer: Any,
    cfg: DictConfig,
    *,
    term: str | None = None,
    run_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Write the experiment (all hparams, `differs` on the swept ones; all metrics, this
    run's penalty `term` among the first) and this session's hparams into `writer`."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    vals = values(cfg)
    hparams = [_hparam(name, v) for name, v in vals.items()]
    metrics = [
        hp.Metric(
            tag,
            display_name=tag,
            description=desc,
            # HParams knows training and validation; the test split's metrics say so in words
            dataset_type={"training": hp.Metric.TRAINING}.get(kind, hp.Metric.VALIDATION)
            if kind != "test"
            else None,
        )
        for tag, (_, kind, desc) in declared_metrics(term).items()
    ]
    now = time.time()
    session = {k: v for k, v in vals.items() if v is not None}
    group = group_name(run_dir) or None
    writer.file_writer.add_summary(_experiment(hparams, metrics, differing(vals), now))
    writer.file_writer.add_summary(hp.hparams_pb(session, trial_id=group, start_time_secs=now))
    writer.flush()
    return session


BY_EPOCH = ("val/", "epoch/", "code/")  # tags each epoch logs (aectl.training.member)


def finish(writer: Any, metrics: Mapping[str, Any], status: str = "success") -> None:
    """Log the final metrics under the declared tags at the last step, then end the session.
    The epochs logged theirs at their steps already (`val/*`, `epoch/*`, `code/*`): written
    again here, TensorBoard held each twice at the last step."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    step = int(metrics.get("step", 0))
    for tag, (key, _, _) in final_metrics().items():
        if tag.startswith(BY_EPOCH):
            continue
        v = metrics.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            writer.add_scalar(tag, float(v), step)
    end = plugin_data_pb2.SessionEndInfo(
        status=api_pb2.Status.Value(f"STATUS_{status.upper()}"), end_time_secs=time.time()
    )
    content = plugin_data_pb2.HParamsPluginData(
        session_end_info=end, version=metadata.PLUGIN_DATA_VERSION
    )
    summary = summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=metadata.SESSION_END_INFO_TAG,
                metadata=metadata.create_summary_metadata(content),
            )
        ]
    )
    writer.file_writer.add_summary(summary)
    writer.flush()
