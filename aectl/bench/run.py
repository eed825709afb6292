"""`aectl bench`: aectl's training step against the tutorial loop, regularizer costs, logging cost.

Why it exists: speed claims in this project are measured here, never in timed tests
(issue 6). Everything is timed in one process, interleaved (every variant runs a chunk of
steps, then the next, with the order rotated each repeat), after warm-up, and the median
over repeats is reported, so load from other processes hits all variants alike. Ratios
are quotients of the medians printed next to them; "paired" is the median of the same
ratio taken within each repeat, which drifting load disturbs less. On a shared machine,
`--threads 1 --clock cpu` (this process's CPU time) gives the steadiest numbers.

It times aectl's real step (`aectl.training.fast_step.make_step`, which calls `aectl.training.step.losses`)
over data held on the device as one float tensor and batched by a random permutation, as
`aectl train` does, with the window of losses read back every 10 steps. The reference is
`aectl.bench.reference`. Data: the real MNIST test split when its IDX file is found, else
random images of the same shape, cut to whole batches for both loops. Two reference rows:
torchvision's own MNIST dataset with `ToTensor()` (the tutorials' loop, and the row the
targets use) and the same loop with the conversion done on the tensor (no PIL), which is
leaner than any tutorial; every ratio is printed against both. Model: the
784-512-256-32 MLP autoencoder.

Imports only torch, the standard library, rich and torchvision (both optional) and aectl
modules that work without Hydra, so it runs on a machine that has nothing but torch. Its
command line is `aectl.bench.cli` and its tables `aectl.bench.report` (neither imports torch).
"""

from __future__ import annotations

import functools
import gzip
import importlib
import math
import os
import platform
import statistics
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from aectl.bench import reference as bench_reference
from aectl.bench.options import CLOCK_NAMES, DEFAULT_SECTIONS
from aectl.errors import UserError
from aectl.models.mlp import build as build_mlp
from aectl.regularizers.base import Regularizer
from aectl.regularizers.none import NoRegularizer
from aectl.training.fast_step import WARMUP_STEPS, make_step

REPO = Path(__file__).resolve().parents[2]
MNIST_NAME = "t10k-images-idx3-ubyte.gz"
MNIST_CANDIDATES = (
    REPO.parent / "shared/data/mnist-t10k" / MNIST_NAME,
    REPO / "shared/data/mnist-t10k" / MNIST_NAME,
)
SYNTHETIC_SHAPE = (10_000, 28, 28)
LR = 1e-3
LOG_EVERY = 10  # train.py's default trainer.log_every_n_steps
EXACT_STEP_DIVISOR = 8  # the exact Jacobian is slow: it runs steps // 8 steps per chunk

# name -> mlp.build keyword arguments (input 1x28x28 = 784)
MODELS: dict[str, dict[str, Any]] = {
    "784-512-256-32": {"code_dim": 32, "hidden": [512, 256]},
    "784-512-256-32, sigmoid code": {
        "code_dim": 32,
        "hidden": [512, 256],
        "code_activation": "sigmoid",
    },
    "784-512 sigmoid (one layer)": {"code_dim": 512, "hidden": [], "code_activation": "sigmoid"},
    "784-512-256-32, stochastic": {"code_dim": 32, "hidden": [512, 256], "stochastic": True},
}
DEEP, DEEP_SIGMOID, ONE_LAYER, STOCHASTIC = MODELS


def regularizer_rows() -> list[tuple[str, str, Callable[[], Regularizer]]]:
    """(row, model, regularizer factory) for every regularizer option and each variant it
    declares (`Regularizer.bench_variants`), with its schema's default settings, on the
    model it needs; each model's "none" row comes first, as the baseline of its others."""
    import aectl.config.regularizer  # noqa: F401  (registers the schemas; no Hydra needed)
    from aectl.config.schema import SCHEMAS

    by_model: dict[str, list[tuple[str, str, Callable[[], Regularizer]]]] = {m: [] for m in MODELS}
    for cls in SCHEMAS["regularizer"].values():
        module, _, name = cls._target_.rpartition(".")
        reg_cls = getattr(importlib.import_module(module), name)
        defaults = {f.name: getattr(cls(), f.name) for f in fields(cls) if f.name != "_target_"}
        for label, overrides, needs in reg_cls.bench_variants:
            model = ONE_LAYER if "one_layer" in needs else DEEP
            model = DEEP_SIGMOID if "sigmoid_code" in needs else model
            model = STOCHASTIC if "stochastic" in needs else model
            factory = functools.partial(reg_cls, **{**defaults, **overrides})
            by_model[model].append((label, model, factory))
    rows = []
    for model, found in by_model.items():
        if found:
            baseline = [r for r in found if r[0] == "none"] or [("none", model, NoRegularizer)]
            rows += baseline[:1] + [r for r in found if r[0] != "none"]
    return rows


REGULARIZERS = regularizer_rows()

TARGETS = {
    "cpu_speedup_vs_reference": (">=", 2.0),
    "cpu_speedup_vs_reference_best": (">=", 2.0),
    "cpu_speedup_vs_tensor_reference": (">=", 2.0),
    "cpu_speedup_vs_tensor_reference_best": (">=", 2.0),
    "contractive_analytic_cost": ("<=", 1.3),
    "contractive_hutchinson_cost": ("<=", 2.0),
    "logging_overhead": ("<", 0.03),
    "gpu_samples_per_s": (">=", 1e6),
    "gpu_speedup_vs_reference": (">=", 30.0),
    "gpu_speedup_vs_tensor_reference": (">=", 30.0),
    "run_overhead_vs_training": ("<=", 0.6),  # issue 13: the MNIST job's non-training time
    "default_run_wall_s": ("<", 10.0),  # issue 13: `make train`'s run, whole process
    "startup_s": ("<", 2.5),  # issue 13: process start to the first training step
    "run_wall_vs_peer": ("<=", 0.8),  # issue 13: the MNIST job's wall over pythae's, same job
    "sweep_vmap_over_basic": ("<=", 0.2),  # issue 14: 16 jobs, 2 CPU cores
    "gpu_sweep_vmap_over_one_job": ("<=", 1.5),  # issue 14: 16 jobs on one GPU vs one alone
}


# ---------------------------------------------------------------- data and machine


def read_idx_images(path: Path) -> torch.Tensor:
    """(N, H, W) uint8 from an IDX image file, gzip-compressed or raw."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(
            "--data", f"cannot read {str(path)!r} ({e.strerror}); allowed: an IDX image file"
        ) from None
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic, n, h, w = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803 or len(raw) != 16 + n * h * w:
        raise UserError("--data", f"{str(path)!r} is not an IDX uint8 image file (gzip or raw)")
    return torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).reshape(n, h, w)


def load_images(path: str | None, limit: int | None) -> tuple[torch.Tensor, str]:
    """The benchmark's uint8 images and where they came from."""
    if path is not None:
        images, source = read_idx_images(Path(path)), str(path)
    else:
        found = next((p for p in MNIST_CANDIDATES if p.exists()), None)
        if found is not None:
            images, source = read_idx_images(found), f"MNIST test split ({found})"
        else:
            g = torch.Generator().manual_seed(0)
            images = torch.randint(0, 256, SYNTHETIC_SHAPE, dtype=torch.uint8, generator=g)
            source = f"synthetic uint8 images {SYNTHETIC_SHAPE} (MNIST not found)"
    return images[:limit].contiguous(), source


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": None,
    }
    if device.type == "cuda":
        info.update(
            gpu=torch.cuda.get_device_name(device),
            cuda=torch.version.cuda,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        )
    return info


def allow_many_compiled_steps(n: int = 64) -> None:
    """Each runner compiles its own step: the same code objects (fast_step's `forward` and
    `opt_step`) with different models, so Dynamo would stop compiling after its default
    limit of 8 variants per code object and silently run the rest eagerly."""
    import torch._dynamo

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), n))


def error_line(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- what gets timed


@dataclass
class Variant:
    """One aectl step configuration."""

    compile: bool = False
    precision: str = "32"
    cuda_graph: bool = False
    fused_adam: bool = True  # what `aectl train` builds (optim.fused=true); False: torch's default
    compile_mode: str = "default"  # torch.compile's mode (aectl.training.fast_step.COMPILE_MODES)

    @property
    def mode(self) -> str:
        parts = ["eager"]
        if self.compile:
            parts = [
                "compile" if self.compile_mode == "default" else f"compile {self.compile_mode}"
            ]
        if self.cuda_graph:
            parts.append("CUDA graph")
        parts.append("bf16" if self.precision == "bf16" else "fp32")
        if not self.fused_adam:
            parts.append("unfused Adam")
        return ", ".join(parts)


class Runner:
    """Something that trains for `steps` steps when asked and says how many samples it saw."""

    name: str
    mode: str
    steps_divisor = 1

    def prime(self) -> None:
        """Compile, capture and allocate: everything that must not land in a timed chunk."""

    def run(self, steps: int) -> int:
        raise NotImplementedError


REFERENCES = {  # row name -> the per-item dataset of bench_reference.tutorial_loader
    "reference": "torchvision",
    "reference, tensor items": "tensor",
}
REFERENCE_MODES = {
    "torchvision": "MNIST(ToTensor()), DataLoader, loss.item()",
    "tensor": "tensor items (no PIL), DataLoader, loss.item()",
}


class ReferenceRunner(Runner):
    def __init__(
        self,
        name: str,
        model,
        images: torch.Tensor,
        batch: int,
        device: torch.device,
        items: str = "torchvision",
    ):
        self.name, self.mode, self.device = name, REFERENCE_MODES[items], device
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=LR)
        self.batches = bench_reference.batches_forever(
            bench_reference.tutorial_loader(images, batch_size=batch, items=items)
        )

    def run(self, steps: int) -> int:
        seen, _ = bench_reference.train_steps(
            self.model, self.opt, self.batches, steps, self.device
        )
        return seen


class AectlRunner(Runner):
    """train.py's inner loop: randperm batches of an on-device tensor, each step's losses
    kept on the device and read back every `log_every` steps (0: never)."""

    def __init__(
        self,
        name: str,
        model,
        reg: Regularizer,
        x: torch.Tensor,
        batch: int,
        variant: Variant,
        log_every: int = LOG_EVERY,
        steps_divisor: int = 1,
    ):
        self.name, self.mode, self.steps_divisor = name, variant.mode, steps_divisor
        self.x, self.batch, self.log_every = x, batch, log_every
        self.model, self.needs_priming = model, variant.compile or variant.cuda_graph
        opt = torch.optim.Adam(model.parameters(), lr=LR, fused=variant.fused_adam or None)
        self.step = make_step(
            model,
            reg,
            opt,
            "mse",
            compile=variant.compile,
            precision=variant.precision,
            cuda_graph=variant.cuda_graph,
            compile_mode=variant.compile_mode,
        )
        self.sums = torch.zeros(3, device=x.device)
        self.window = torch.zeros(LOG_EVERY, 3, device=x.device)  # the steps since the last log
        self.count = 0
        self.batches = self._batches()
        self.last_losses: list[float] = []
        self.run_s = self.read_back_s = 0.0  # wall time in run(), and inside its read-backs

    def _batches(self):
        n = len(self.x)
        while True:
            yield from torch.randperm(n, device=self.x.device).split(self.batch)

    def prime(self) -> None:
        # Every batch shape an epoch produces, enough times to compile and capture it.
        if not self.needs_priming:
            return
        n = len(self.x)
        sizes = {self.batch} | ({n % self.batch} if n % self.batch else set())
        for size in sorted(sizes):
            for _ in range(WARMUP_STEPS + 1):
                self.step(self.x[torch.randperm(n, device=self.x.device)[:size]])

    def run(self, steps: int) -> int:
        seen, start = 0, time.perf_counter()
        self.model.train()
        for _ in range(steps):
            idx = next(self.batches)
            parts = self.step(self.x[idx])
            self.count += 1
            self.sums += parts
            self.window[(self.count - 1) % LOG_EVERY] = parts
            seen += len(idx)
            if self.log_every and self.count % self.log_every == 0:
                t = time.perf_counter()
                self.last_losses = self.window.tolist()  # the loop's only sync
                self.read_back_s += time.perf_counter() - t
        self.run_s += time.perf_counter() - start
        return seen


def measure(
    runners: list[Runner],
    *,
    steps: int,
    repeats: int,
    warmup: int,
    device: torch.device,
    errors: dict[str, str],
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """samples/s of each runner per repeat, interleaved; a runner that fails is dropped."""
    alive: list[Runner] = []
    for r in runners:
        try:
            r.prime()
            r.run(max(1, warmup // r.steps_divisor))
            sync(device)
            alive.append(r)
        except Exception as e:  # a variant this machine cannot run (e.g. no compiler)
            errors[r.name] = error_line(e)
    rates: dict[str, list[float]] = {r.name: [] for r in alive}
    for rep in range(repeats):
        order = alive[rep % len(alive) :] + alive[: rep % len(alive)] if alive else []
        for r in order:
            n_steps = max(1, steps // r.steps_divisor)
            sync(device)
            t0 = clock()
            seen = r.run(n_steps)
            sync(device)
            rates[r.name].append(seen / (clock() - t0))
    return rates


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
assert tuple(CLOCKS) == CLOCK_NAMES


def measure_as_set(
    runners: list[Runner], device: torch.device, settings: dict[str, Any], errors: dict[str, str]
) -> dict[str, list[float]]:
    return measure(
        runners,
        steps=settings["steps"],
        repeats=settings["repeats"],
        warmup=settings["warmup"],
        device=device,
        errors=errors,
        clock=CLOCKS[settings["clock"]],
    )


def paired(den: list[float] | None, num: list[float] | None) -> float | None:
    """Median over repeats of num/den from the same repeat: a second estimate of a ratio
    that load drifting between repeats disturbs less (the headline ratio is the quotient
    of the medians, as the issue asks)."""
    if not den or not num or len(den) != len(num):
        return None
    return statistics.median(b / a for a, b in zip(den, num))


def summary(rates: list[float]) -> dict[str, Any]:
    return {"samples_per_s": statistics.median(rates), "runs": rates}


# ---------------------------------------------------------------- the three sections


def new_model(name: str, device: torch.device):
    torch.manual_seed(0)  # every copy of a model starts from the same weights
    return build_mlp((1, 28, 28), **MODELS[name]).to(device)


def throughput_variants(
    device: torch.device, compile: bool, precision: str, compile_mode: str = "default"
) -> dict[str, Variant]:
    """The aectl rows: eager always; compiled and bf16 when asked, and all of them on CUDA.
    One row swaps in torch's default Adam (optim.fused=false), to show what fusing buys.
    Every compiled row uses `compile_mode`."""
    rows = {"aectl": Variant(), "aectl unfused Adam": Variant(fused_adam=False)}
    if device.type == "cuda":
        rows["aectl CUDA graph"] = Variant(cuda_graph=True)
        rows["aectl CUDA graph, unfused Adam"] = Variant(cuda_graph=True, fused_adam=False)
        rows["aectl compile"] = Variant(compile=True, cuda_graph=True, compile_mode=compile_mode)
        rows["aectl bf16 CUDA graph"] = Variant(precision="bf16", cuda_graph=True)
        rows["aectl bf16 compile"] = Variant(
            compile=True, precision="bf16", cuda_graph=True, compile_mode=compile_mode
        )
        return rows
    if compile:
        rows["aectl compile"] = Variant(compile=True, compile_mode=compile_mode)
    if precision == "bf16":
        rows["aectl bf16"] = Variant(precision="bf16")
        if compile:
            rows["aectl bf16 compile"] = Variant(
                compile=True, precision="bf16", compile_mode=compile_mode
            )
    return rows


def section_throughput(x, images, batch, device, settings, errors) -> list[dict[str, Any]]:
    runners: list[Runner] = []
    for name, items in REFERENCES.items():
        try:
            runners.append(
                ReferenceRunner(name, new_model(DEEP, device), images, batch, device, items)
            )
        except Exception as e:  # e.g. no torchvision on a bare GPU machine
            errors[name] = error_line(e)
    variants = throughput_variants(
        device, settings["compile"], settings["precision"], settings["compile_mode"]
    )
    for name, v in variants.items():
        try:
            runners.append(AectlRunner(name, new_model(DEEP, device), NoRegularizer(), x, batch, v))
        except Exception as e:
            errors[name] = error_line(e)
    rates = measure_as_set(runners, device, settings, errors)
    rows = [
        {"name": r.name, "mode": r.mode, "model": DEEP, **summary(rates[r.name])}
        for r in runners
        if r.name in rates
    ]
    for key, ref_name in (("", "reference"), ("_tensor", "reference, tensor items")):
        ref = next((row["samples_per_s"] for row in rows if row["name"] == ref_name), None)
        for row in rows:
            row[f"ratio_vs{key}_reference"] = row["samples_per_s"] / ref if ref else None
            row[f"ratio{key}_paired_median"] = paired(rates.get(ref_name), row["runs"])
    return rows


def default_variant(device: torch.device, settings: dict[str, Any]) -> Variant:
    """The fast configuration for this device: CUDA graphs on CUDA, plus what was asked."""
    return Variant(
        compile=settings["compile"],
        precision=settings["precision"],
        cuda_graph=device.type == "cuda",
        compile_mode=settings["compile_mode"],
    )


def section_regularizers(x, batch, device, settings, errors) -> list[dict[str, Any]]:
    v = default_variant(device, settings)
    runners: list[Runner] = []
    what: dict[str, tuple[str, str]] = {}
    for reg_name, model_name, factory in REGULARIZERS:
        name = f"{reg_name} ({model_name})" if reg_name == "none" else reg_name
        what[name] = (reg_name, model_name)
        div = EXACT_STEP_DIVISOR if reg_name == "contractive exact" else 1
        try:
            runners.append(
                AectlRunner(
                    name, new_model(model_name, device), factory(), x, batch, v, steps_divisor=div
                )
            )
        except Exception as e:
            errors[name] = error_line(e)
    rates = measure_as_set(runners, device, settings, errors)
    rows = []
    for r in runners:
        if r.name not in rates:
            continue
        reg_name, model_name = what[r.name]
        rows.append(
            {
                "name": r.name,
                "regularizer": reg_name,
                "model": model_name,
                "mode": r.mode,
                "baseline": f"none ({model_name})",
                **summary(rates[r.name]),
            }
        )
    by_name = {row["name"]: row["samples_per_s"] for row in rows}
    for row in rows:
        base = by_name.get(row["baseline"])
        row["baseline_samples_per_s"] = base
        row["cost_vs_none"] = base / row["samples_per_s"] if base else None
        row["cost_paired_median"] = paired(row["runs"], rates.get(row["baseline"]))
    return rows


def section_logging(x, batch, device, settings, errors) -> dict[str, Any]:
    v = default_variant(device, settings)
    runners: list[Runner] = [
        AectlRunner(
            f"read back every {LOG_EVERY} steps",
            new_model(DEEP, device),
            NoRegularizer(),
            x,
            batch,
            v,
            log_every=LOG_EVERY,
        ),
        AectlRunner(
            "never read back", new_model(DEEP, device), NoRegularizer(), x, batch, v, log_every=0
        ),
    ]
    # Whole logging windows per timed chunk: every chunk then holds the same number of
    # read-backs, instead of one chunk in two holding one (noise of the same size as the cost).
    steps = LOG_EVERY * math.ceil(settings["steps"] / LOG_EVERY)
    rates = measure_as_set(runners, device, {**settings, "steps": steps}, errors)
    if len(rates) < 2:
        return {}
    with_log = statistics.median(rates[runners[0].name])
    without = statistics.median(rates[runners[1].name])
    return {
        "every_n_steps": LOG_EVERY,
        "steps_per_chunk": steps,
        "mode": v.mode,
        "model": DEEP,
        "samples_per_s_logging": with_log,
        "samples_per_s_no_logging": without,
        "runs_logging": rates[runners[0].name],
        "runs_no_logging": rates[runners[1].name],
        "overhead": without / with_log - 1,
        "overhead_paired_median": paired(rates[runners[0].name], rates[runners[1].name]) - 1,
        # On the CPU every op has finished when the read-back starts, so the time inside it
        # is its whole cost, measured far more precisely than the difference of two noisy
        # rates. On CUDA it is mostly waiting for queued work (not a cost): there the
        # difference of the rates is the measure.
        "read_back_share": runners[0].read_back_s / runners[0].run_s,
    }


def targets(result: dict[str, Any], device: torch.device) -> dict[str, dict[str, Any]]:
    """Issue 6's targets that this run measured, with whether each was met."""
    got: dict[str, float] = {}
    rows = {r["name"]: r for r in result.get("throughput", [])}
    aectl_rows = [r for r in result.get("throughput", []) if r["name"] not in REFERENCES]
    best = max(aectl_rows, key=lambda r: r["samples_per_s"]) if aectl_rows else None
    if device.type == "cpu" and "aectl" in rows and "reference" in rows:
        got["cpu_speedup_vs_reference"] = (rows["aectl"]["ratio_vs_reference"], "aectl")
        if best is not None and best["name"] != "aectl":
            got["cpu_speedup_vs_reference_best"] = (best["ratio_vs_reference"], best["name"])
    if device.type == "cpu" and "aectl" in rows and "reference, tensor items" in rows:
        got["cpu_speedup_vs_tensor_reference"] = (
            rows["aectl"]["ratio_vs_tensor_reference"],
            "aectl",
        )
        if best is not None and best["name"] != "aectl":
            got["cpu_speedup_vs_tensor_reference_best"] = (
                best["ratio_vs_tensor_reference"],
                best["name"],
            )
    if device.type == "cuda" and best is not None and "reference" in rows:
        got["gpu_samples_per_s"] = (best["samples_per_s"], best["name"])
        got["gpu_speedup_vs_reference"] = (best["ratio_vs_reference"], best["name"])
    if device.type == "cuda" and best is not None and "reference, tensor items" in rows:
        got["gpu_speedup_vs_tensor_reference"] = (best["ratio_vs_tensor_reference"], best["name"])
    regs = {r["regularizer"]: r for r in result.get("regularizers", [])}
    for key, reg in (
        ("contractive_analytic_cost", "contractive analytic"),
        ("contractive_hutchinson_cost", "contractive hutchinson k=1"),
    ):
        if reg in regs and regs[reg]["cost_vs_none"]:
            got[key] = (regs[reg]["cost_vs_none"], regs[reg]["name"])
    lg = result.get("logging")
    if lg and device.type == "cpu":
        got["logging_overhead"] = (lg["read_back_share"], "time inside read-backs")
    elif lg:
        got["logging_overhead"] = (lg["overhead"], lg["mode"])
    got.update(whole_targets(result))
    out = {}
    for key, (value, row) in got.items():
        op, bound = TARGETS[key]
        met = {">=": value >= bound, "<=": value <= bound, "<": value < bound}[op]
        out[key] = {"value": value, "row": row, "target": f"{op} {bound:g}", "met": bool(met)}
    return out


def whole_targets(result: dict[str, Any]) -> dict[str, tuple[float, str]]:
    from aectl.bench.whole import MNIST_ROW, PEER_ROW, TORCH_ROW  # (no Hydra: they need it)

    got = {}
    runs = result.get("run") or {}
    for name, row in runs.items():
        if name == MNIST_ROW:
            got["run_overhead_vs_training"] = (row["overhead_vs_training"], name)
            if PEER_ROW in runs:
                got["run_wall_vs_peer"] = (row["wall_s"] / runs[PEER_ROW]["wall_s"], name)
        elif name not in (PEER_ROW, TORCH_ROW):
            got["default_run_wall_s"] = (row["wall_s"], name)
            floor = runs.get(TORCH_ROW, {}).get("startup_s")
            note = f"; `import torch` alone {floor:.2f} s, same rounds" if floor else ""
            got["startup_s"] = (row["startup_s"], name + note)
    sweep = result.get("sweep") or {}
    if "vmap_over_basic" in sweep:
        got["sweep_vmap_over_basic"] = (sweep["vmap_over_basic"], f"{sweep['jobs']} jobs")
    if "vmap_over_one_job" in sweep:
        got["gpu_sweep_vmap_over_one_job"] = (sweep["vmap_over_one_job"], f"{sweep['jobs']} jobs")
    return got


# ---------------------------------------------------------------- entry points


def run_bench(
    *,
    device: str = "auto",
    steps: int | None = None,
    repeats: int | None = None,
    warmup: int | None = None,
    batch_size: int = 256,
    quick: bool = False,
    compile: bool = False,
    compile_mode: str = "default",
    precision: str = "32",
    data: str | None = None,
    sections: tuple[str, ...] = DEFAULT_SECTIONS,
    threads: int | None = None,
    clock: str = "wall",
    peer_python: str | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return what `bench.json` holds."""
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(
        "cuda"
        if device == "auto" and torch.cuda.is_available()
        else "cpu"
        if device == "auto"
        else device
    )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "--device", "got 'cuda', but no CUDA device is available; allowed: auto, cpu"
        )
    gpu = dev.type == "cuda"
    if compile or gpu:
        allow_many_compiled_steps()
    if clock not in CLOCKS or (gpu and clock != "wall"):
        raise UserError("--clock", f"got {clock!r}; allowed: wall, or cpu on --device cpu")
    if quick:
        steps, repeats, warmup, batch_size = (
            steps or 2,
            repeats or 2,
            warmup or 1,
            min(batch_size, 64),
        )
    settings = {
        "device": str(dev),
        "batch_size": batch_size,
        "steps": steps or (200 if gpu else 5),
        "repeats": repeats or (5 if gpu else 15),
        "warmup": warmup if warmup is not None else (20 if gpu else 5),
        "quick": quick,
        "compile": compile,
        "compile_mode": compile_mode,
        "precision": precision,
        "optimizer": f"Adam(lr={LR:g}); aectl rows fused unless marked",
        "reference": "torchvision.datasets.MNIST(transform=ToTensor()) items; "
        "'tensor items': the same conversion on the tensor, no PIL",
        "loss": "mse",
        "exact_steps_divisor": EXACT_STEP_DIVISOR,
        "clock": clock,
    }
    images, source = load_images(data, 16 * batch_size if quick else None)
    if len(images) < batch_size:
        raise UserError(
            "--batch-size",
            f"got {batch_size}; allowed: at most the {len(images)} images of {source}",
        )
    # Whole batches only, for both loops: no short last batch recompiling or recapturing
    # inside a timed chunk (aectl train handles that batch; the bench need not time it).
    images = images[: len(images) - len(images) % batch_size]
    settings["data"], settings["samples"] = source, len(images)
    x = images.to(dev).unsqueeze(1).float().div_(255)  # on the device once, as aectl train does
    result: dict[str, Any] = {"version": 1, "machine": machine_info(dev), "settings": settings}
    errors: dict[str, str] = {}
    if "throughput" in sections:
        result["throughput"] = section_throughput(x, images, batch_size, dev, settings, errors)
    if "regularizers" in sections:
        result["regularizers"] = section_regularizers(x, batch_size, dev, settings, errors)
    if "logging" in sections:
        result["logging"] = section_logging(x, batch_size, dev, settings, errors)
    if "run" in sections or "sweep" in sections:
        from aectl.bench import whole  # whole `aectl train` processes (needs Hydra)

        found = next((p for p in MNIST_CANDIDATES if p.exists()), None)
        runs = repeats or (1 if quick else 3)
        if "run" in sections:
            result["run"] = whole.section_run(found, str(dev), runs, errors, peer_python)
        if "sweep" in sections:
            result["sweep"] = whole.section_sweep(str(dev), repeats or 1, errors, found)
    result["targets"] = targets(result, dev)
    result["errors"] = errors
    return result
