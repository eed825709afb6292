"""Shares one machine between the jobs a Hydra launcher runs at the same time.

Hydra's joblib launcher runs `n_jobs` jobs at once in loky worker processes; left alone,
each job would take GPU 0 and as many CPU threads as there are cores. `setup_job` runs at
the start of each job, before any CUDA call: with n GPUs job k takes GPU k mod n (through
`torch.cuda.set_device`, because loky reuses a worker for later jobs, and a process can
only narrow CUDA_VISIBLE_DEVICES before its first CUDA call); with or without GPUs the
cores are split between the parallel jobs (torch threads = cores // parallel jobs).

submitit jobs get their GPUs from submitit (CUDA_VISIBLE_DEVICES, from gpus_per_node) and
their threads from `cpus_per_task` when set; the basic launcher runs one job at a time and
needs nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import OmegaConf

log = logging.getLogger(__name__)


def gpu_for(job_num: int, n_gpus: int) -> int | None:
    """The GPU index job `job_num` uses when `n_gpus` are visible (None without GPUs)."""
    return job_num % n_gpus if n_gpus > 0 else None


def threads_for(cores: int, parallel_jobs: int) -> int:
    """CPU threads per job so that `parallel_jobs` jobs share `cores` without oversubscribing."""
    return max(1, cores // max(1, parallel_jobs))


def launcher_kind(target: str) -> str:
    """'joblib', 'submitit' or 'basic' from a launcher's `_target_`."""
    if "joblib" in target:
        return "joblib"
    if "submitit" in target:
        return "submitit"
    return "basic"


def setup_job(config: Any) -> dict[str, Any]:
    """Pick this job's GPU and CPU threads from its Hydra config (`hydra.launcher`, `hydra.job.num`).

    Call it first thing in the job (the `aectl.sweeps.callbacks.JobCallback.on_job_start` hook does).
    Returns what it chose, also logged to the job's train.log.
    """
    hydra = config.hydra
    kind = launcher_kind(str(hydra.launcher.get("_target_", "")))
    if kind == "basic":
        return {}
    import torch

    chosen: dict[str, Any] = {"launcher": kind, "job": int(hydra.job.num)}
    if kind == "joblib":
        import joblib

        cores = joblib.cpu_count()
        parallel = min(joblib.effective_n_jobs(int(hydra.launcher.n_jobs)), cores)
        wants_gpu = str(OmegaConf.select(config, "trainer.device", default="auto")) in (
            "auto",
            "cuda",
        )
        n_gpus = torch.cuda.device_count() if wants_gpu else 0  # counts without creating a context
        gpu = gpu_for(chosen["job"], n_gpus)
        if gpu is not None:
            torch.cuda.set_device(gpu)
            chosen.update(gpu=gpu, gpus=n_gpus)
        chosen.update(threads=threads_for(cores, parallel), cores=cores, parallel_jobs=parallel)
    elif hydra.launcher.get("cpus_per_task"):
        chosen["threads"] = int(hydra.launcher.cpus_per_task)
    if "threads" in chosen:
        torch.set_num_threads(chosen["threads"])
    log.info("parallel: %s", " ".join(f"{k}={v}" for k, v in chosen.items()))
    return chosen
