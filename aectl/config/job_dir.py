"""The `aectl_job_subdir` resolver: where each job of a sweep writes, under the sweep folder.

Hydra names a job after its overrides (`hydra.job.override_dirname`, which leaves out
`trainer.seed`; the seed is the last folder level, so a seed sweep keeps one folder per
configuration). Used raw, as `${hydra:job.override_dirname}/seed=N`, that name breaks in three
ways: with no override but the seed it is empty and the job folder becomes `/seed=N` at the
root of the file system; a value with a `/` in it (a dataset path) nests folders; and a long
value exceeds the 255 bytes a folder name may have. This resolver keeps the readable name and
fixes all three. Distinct overrides keep distinct folders: `/` is written `%2F` and `%`
itself `%25` (as in a URL), so `data/a.npz` and `data_a.npz` cannot meet in one folder (a
sweep job would then resume another job's checkpoint).
"""

from __future__ import annotations

import hashlib

from omegaconf import OmegaConf

NAME = "aectl_job_subdir"
MAX_BYTES = 200  # of one folder name; file systems allow 255


def job_subdir(overrides: str, seed: int | str) -> str:
    """`<overrides>/seed=<seed>`, or `seed=<seed>` when only the seed was given on the
    command line; `/` in a value becomes `%2F` (`%` becomes `%25`), and a name too long ends in
    a short hash of it."""
    leaf = f"seed={seed}"
    if not overrides:
        return leaf
    name = overrides.replace("%", "%25").replace("/", "%2F")
    if len(name.encode()) > MAX_BYTES:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = name.encode()[: MAX_BYTES - 11].decode(errors="ignore") + "-" + digest
    return f"{name}/{leaf}"


if not OmegaConf.has_resolver(NAME):
    OmegaConf.register_new_resolver(NAME, job_subdir)
