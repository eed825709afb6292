"""The `aectl_record_dir` resolver: where a job writes Hydra's record of its command.

Hydra writes `.hydra/{config,hydra,overrides}.yaml` into a job's folder before the job
runs. A folder that holds a run already (a resume, a sweep run again) keeps the record of
the command that trained it: this command's goes to `.hydra/resume_<time>/` (which `aectl
summarize` reads as the job's latest settings), and a job refused before it wrote anything,
or one that found its run finished past what was asked, removes it again (`end`), so the
records keep matching the runs. A fresh folder gets `.hydra/` itself.
`hydra.output_subdir` in configs/train.yaml names this resolver; an explicit
`hydra.output_subdir=` still wins.
"""

from __future__ import annotations

import os
import shutil
import time

from omegaconf import OmegaConf

NAME = "aectl_record_dir"
FIRST = ".hydra"
_chosen: dict[str, str] = {}  # job folder -> its record folder (asked again at its end)
_unchanged: set[str] = set()  # job folders this command left as they were


def record_dir(output_dir: str) -> str:
    folder = os.path.abspath(str(output_dir))
    if folder not in _chosen:
        held = os.path.isfile(os.path.join(folder, "checkpoints", "last.pt"))
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
        _chosen[folder] = f"{FIRST}/resume_{stamp}" if held else FIRST
    return _chosen[folder]


def left_as_it_was(output_dir: str) -> None:
    """The job changed nothing in its folder (`aectl.training.untrained.LeftAsItIs`): its
    record of this command goes at its end, as a refused job's does."""
    _unchanged.add(os.path.abspath(str(output_dir)))


def end(output_dir: str, refused: bool = False) -> None:
    """The job in `output_dir` ended: the resume record this process chose for it is removed
    when the job was refused before writing anything or changed nothing, and the choice is
    forgotten (the next command in this process chooses anew)."""
    folder = os.path.abspath(str(output_dir))
    chosen = _chosen.pop(folder, None)
    unchanged = folder in _unchanged
    _unchanged.discard(folder)
    if chosen not in (None, FIRST) and (refused or unchanged):
        shutil.rmtree(os.path.join(folder, chosen), ignore_errors=True)


if not OmegaConf.has_resolver(NAME):
    OmegaConf.register_new_resolver(NAME, record_dir)
