"""The metric vocabulary, defined once: what a run reports and what a sweep may minimise.

The trainer writes these numbers to metrics.json, the HParams plugin declares them (by
their TensorBoard tag), and `trainer.monitor` names one of them (by either name). Kept in
the torch-free config layer so that checking `trainer.monitor` never imports the
TensorBoard writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aectl.errors import UserError

# Tags with one value per run (written once, at the last step) share one group that sorts
# after train/ and val/, so TensorBoard's Scalars and Time Series open on the curves.
WHOLE_RUN = "whole_run/"

# HParams metric tag -> (metrics.json key, dataset type, description). Tags the trainer logs
# every epoch (val/*, code/*, epoch/*) end on the same value; the rest are written by finish().
METRICS: dict[str, tuple[str, str, str]] = {
    "val/recon": ("val/recon", "validation", "final validation reconstruction loss"),
    "val/penalty": ("val/penalty", "validation", "final validation penalty (weight x term)"),
    "whole_run/best_val_recon": (
        "best_val_recon",
        "validation",
        "lowest validation reconstruction loss",
    ),
    "whole_run/best_epoch": (
        "best_epoch",
        "validation",
        "epoch of the lowest validation reconstruction loss",
    ),
    "epoch/train_loss": ("train/loss", "training", "last epoch's mean training loss"),
    "epoch/train_recon": ("train/recon", "training", "last epoch's mean reconstruction loss"),
    "epoch/train_penalty": (
        "train/penalty",
        "training",
        "last epoch's mean penalty (weight x term)",
    ),
    "code/mean_activation": ("code/mean_activation", "validation", "mean code activation"),
    "code/frac_near_zero": ("code/frac_near_zero", "validation", "fraction of code values near 0"),
    "whole_run/samples_per_s": ("samples_per_s", "training", "training throughput, whole run"),
    "whole_run/epoch_samples_per_s": (
        "epoch_samples_per_s",
        "training",
        "last epoch's throughput (from epoch 2 on, free of compiling and capturing)",
    ),
    "whole_run/train_time_s": ("train_time_s", "training", "time spent in training steps"),
}
# The held-out test split, measured once at the end on each checkpoint: what to quote. Shown
# in HParams; never a monitor (model selection sees validation only).
TEST_METRICS: dict[str, tuple[str, str, str]] = {
    "whole_run/test_last_recon_mse": (
        "test/last/recon/mse",
        "test",
        "test split reconstruction MSE of last.pt (the number to report)",
    ),
    "whole_run/test_best_recon_mse": (
        "test/best/recon/mse",
        "test",
        "test split reconstruction MSE of best.pt",
    ),
}
# The tags these had before they were grouped (still accepted by trainer.monitor).
RENAMED = {
    "best/val_recon": "whole_run/best_val_recon",
    "best/epoch": "whole_run/best_epoch",
    "run/samples_per_s": "whole_run/samples_per_s",
    "run/epoch_samples_per_s": "whole_run/epoch_samples_per_s",
    "run/train_time_s": "whole_run/train_time_s",
}
# Names `trainer.monitor` accepts: a metrics.json key or its HParams tag.
MONITORS = tuple(dict.fromkeys([*(key for key, _, _ in METRICS.values()), *METRICS, *RENAMED]))

# The numbers `aectl.analysis.analyze` can report (metrics.json key -> description). Each is
# logged as the scalar `analysis/<key>` and declared as an HParams metric by every run, so
# a sweep's HParams table has a column for each whatever its jobs are.
ANALYSIS: dict[str, str] = {
    "probe/accuracy": "linear probe on the frozen codes: accuracy on the analysed split",
    "probe/train_accuracy": "linear probe: accuracy on the training split it was fitted on",
    "probe/majority_rate": "the most frequent label's share in that split (a probe's floor)",
    "sparsity/frac_exact_zero": "fraction of code values exactly 0 (ReLU codes)",
    "sparsity/frac_near_zero": "fraction of code values below 1% of the code's RMS",
    "sparsity/near_zero_below": "that threshold: 1% of the code's RMS over the split",
    "sparsity/hoyer": "Hoyer's sparsity of each sample's code, averaged (0 dense, 1 one-hot)",
    "sparsity/mean_activation": "mean code value",
    "sparsity/active_units_per_sample": "code units active (above the threshold) per sample",
    "sparsity/frac_dead_units": "fraction of code units never active on the split",
    "pca/max_angle_deg": "largest principal angle to PCA's subspace (degrees)",
    "pca/mean_angle_deg": "mean principal angle to PCA's subspace (degrees)",
    "pca/mse": "PCA's reconstruction MSE with as many components as the code",
    "pca/mse_model": "the model's reconstruction MSE on the same samples",
    "pca/mse_ratio": "the model's MSE over PCA's (1 is PCA's optimum)",
    "vector_field/mean_cos": "denoising: mean cosine of r(x) - x with the direction to the curve",
    "vector_field/n_points": "denoising: grid points in the band around the curve",
    "vector_field/band_lo": "denoising: inner distance of that band",
    "vector_field/band_hi": "denoising: outer distance of that band",
    "tangents/jacobian_abs_cos": "contractive: mean |cos| of the Jacobian's top direction and the tangent",
    "tangents/local_pca_abs_cos": "mean |cos| of local PCA's top direction and the tangent",
    "tangents/singular_value_ratio": "mean ratio of the Jacobian's 2nd to 1st singular value",
    "tangents/jacobian_fro_on_curve": "mean ||J||_F of the encoder on the curve",
    "onehot/patterns_reproduced": "onehot8: patterns whose output's argmax is the input's hot unit",
    "onehot/patterns": "onehot8: patterns shown",
}
ANALYSIS_PREFIX = WHOLE_RUN + "analysis/"  # TensorBoard tag = prefix + metrics.json key


def term_names() -> tuple[str, ...]:
    """Every regularizer's penalty term name (`term_name` in its schema), in schema order."""
    from aectl.config.schema import all_schemas

    found = (getattr(c, "term_name", None) for c in all_schemas().get("regularizer", {}).values())
    return tuple(dict.fromkeys(t for t in found if t))


def term_metrics(term: str) -> dict[str, tuple[str, str, str]]:
    """The unweighted penalty term's HParams metrics (tag -> metrics.json key, kind, text)."""
    return {
        f"val/{term}": (f"val/{term}", "validation", f"final validation {term} (unweighted term)"),
        f"epoch/train_{term}": (
            f"train/{term}",
            "training",
            f"last epoch's mean {term} (unweighted term)",
        ),
    }


def final_metrics() -> dict[str, tuple[str, str, str]]:
    """Every metric `aectl.record.hparams.finish` writes at the last step when metrics.json
    has it: METRICS and each regularizer's term (the analysis numbers are logged by
    `aectl.analysis.analyze` itself)."""
    out = {**METRICS, **TEST_METRICS}
    for term in term_names():
        out.update(term_metrics(term))
    return out


def declared_metrics(term: str | None) -> dict[str, tuple[str, str, str]]:
    """Every HParams metric a run declares: METRICS, every regularizer's term, every
    analysis number. Ordered for the HParams dashboard, which shows the first five without
    clicking: validation reconstruction, this run's own penalty term, probe accuracy."""
    finals = final_metrics()
    analysis = {ANALYSIS_PREFIX + key: (key, "test", text) for key, text in ANALYSIS.items()}
    own = term_metrics(term) if term else {}
    first = [
        "val/recon",
        *own,
        ANALYSIS_PREFIX + "probe/accuracy",
        "whole_run/best_val_recon",
        "epoch/train_recon",
        "code/frac_near_zero",
    ]
    every = {**finals, **analysis}
    return {tag: every[tag] for tag in dict.fromkeys([*first, *finals, *analysis])}


def objective(metrics: Mapping[str, Any], name: str) -> float:
    """The value a sweeper minimises: `metrics[name]`, for a metrics.json key or a METRICS tag."""
    name = RENAMED.get(name, name)
    key = METRICS[name][0] if name in METRICS else name
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        allowed = sorted(
            k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
        raise UserError("trainer.monitor", f"got {name!r}; allowed: {', '.join(allowed)}")
    return float(value)
