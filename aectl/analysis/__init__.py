"""What each autoencoder learned, as numbers and pictures: one entry point for train and eval.

`analyze` runs every analysis that applies to the run — the PCA comparison for linear
autoencoders, the denoising vector field and the contractive tangents for manifold data,
code sparsity (and first-layer filters for images) always, the 8-3-8 code table for
onehot8, what a stochastic code generates (`generative`: prior samples, traversals,
interpolations, a 2-D code's manifold), the linear probe when there are labels — saves each picture as
`<run_dir>/<folder>/<name>.png`, adds it to the run's TensorBoard as `<folder>/<name>`,
logs each number as the scalar `whole_run/<folder>/<key>` (`whole_run/analysis/probe/accuracy`,
in the one-value group that sorts after the curves; the HParams
metrics every run declares, `aectl.config.metrics.ANALYSIS`), and returns the numbers
(`pca/max_angle_deg`, `probe/accuracy`, ...) for metrics.json or eval.json. It is `start`
(the model's part; an analysis's CPU half, `later.Later`, handed to `later.Workers`) then
`Started.write`: a vmap group starts every member's before it writes the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from aectl.analysis.later import Later, Result, Workers
from aectl.config.metrics import WHOLE_RUN
from aectl.data.base import MANIFOLD, ONEHOT, Data
from aectl.models.autoencoder import Autoencoder
from aectl.record import onehot_table, pictures, preload
from aectl.record.progress import console
from aectl.record.runlog import add_picture


@torch.no_grad()
def code_table(model: Autoencoder, data: Data) -> Result:
    """The 8-3-8 table (input, hidden values, output) as a picture, and how many patterns
    come back (argmax of the output = the input's hot unit); onehot_table prints it."""
    model.eval()
    x = torch.unique(data.val_x, dim=0).flip(0)
    _, correct = onehot_table.table(model, x)
    h = model.encode(x).flatten(1)
    numbers = {"onehot/patterns_reproduced": float(correct), "onehot/patterns": float(len(x))}
    return numbers, {"code_table": pictures.onehot_table(x, h, model.decode(h).flatten(1))}


def warm() -> None:
    """Import the analyses (SciPy and matplotlib come with them): `aectl.record.preload`
    runs it on a background thread while a run trains. Not `tangents`: only manifold runs
    use it, and it imports scikit-learn (1.3-2 s), which no other run needs."""
    from aectl.analysis import generative, pca_compare, probe, sparsity  # noqa: F401


def measure(
    model: Autoencoder, data: Data, x: torch.Tensor, y: torch.Tensor | None
) -> list[Result | Later]:
    """Every analysis that applies to this model and data, on the samples `x` (labels `y`):
    each one's result, or its CPU half still to run (`Later`)."""
    # imported here, each when it applies: scikit-learn, scipy and torchvision load only
    # when a run reaches its analyses (never before the first training step), and never
    # while the background preload imports them too
    preload.wait()
    from aectl.analysis import pca_compare, sparsity

    curve = data.extras.get("curve")
    parts: list[Result | Later] = []
    if pca_compare.applies(model, data):
        parts.append(pca_compare.compare(model, data, x))
    if data.kind == MANIFOLD and curve is not None:
        from aectl.analysis import tangents, vector_field

        parts.append(vector_field.vector_field(model, data, curve))
        parts.append(tangents.tangents(model, data, curve))
    parts.append(sparsity.sparsity(model, data, x))
    if data.kind == ONEHOT:
        parts.append(code_table(model, data))
    from aectl.analysis import generative

    if generative.applies(model, data):
        parts.append(generative.generative(model, data, x, y))
    if data.train_y is not None and y is not None and len(data.train_y.unique()) > 1:
        from aectl.analysis import probe

        parts.append(probe.probe(model, data, x, y))
    return parts


def run_all(model: Autoencoder, data: Data, x: torch.Tensor, y: torch.Tensor | None) -> Result:
    """Every analysis that applies, done here and now: the numbers and the pictures."""
    return _joined([p() if isinstance(p, Later) else p for p in measure(model, data, x, y)])


def _joined(parts: list[Result]) -> Result:
    numbers: dict[str, float] = {}
    images: dict[str, torch.Tensor] = {}
    for n, p in parts:
        numbers.update(n)
        images.update(p)
    return numbers, images


@dataclass
class Started:
    """A run's analyses measured, their CPU halves running (`start`); `write` finishes them."""

    results: list[Callable[[], Result]]
    stochastic: bool

    def write(
        self,
        run_dir: str | Path,
        writer=None,
        step: int = 0,
        *,
        folder: str = "analysis",
        tag: str | None = None,
        to: Path | None = None,
    ) -> dict[str, float]:
        """Write the pictures and print the headline numbers; return the numbers.

        `writer` is the run's torch SummaryWriter (None: pictures go to PNG files only); the
        pictures are logged as `<tag>/<name>` and the numbers as `whole_run/<tag>/<key>`
        (`tag`: `folder` unless given; eval's names its checkpoint and split). `to`: the
        folder the picture files go to instead (eval's staged `aectl.atomic.staged_folder`,
        which then becomes `<run_dir>/<folder>`).
        """
        tag = tag or folder
        numbers, images = _joined([result() for result in self.results])
        out = Path(run_dir) / folder
        files = out if to is None else Path(to)
        for name, img in images.items():
            if writer is None:
                pictures.save_png(img, files / f"{name}.png")
            else:
                add_picture(writer, f"{tag}/{name}", img, step, files / f"{name}.png")
        if writer is not None:
            for key, value in numbers.items():
                writer.add_scalar(f"{WHOLE_RUN}{tag}/{key}", value, step)
            writer.flush()
        # a stochastic code's sparsity is of its mean μ, whose units are "active" at any
        # scale: beside latent/active_units (information, from the KL) it would read as a
        # contradiction
        hidden = ("sparsity/",) if self.stochastic else ()
        shown = {k: v for k, v in numbers.items() if k in HEADLINE and not k.startswith(hidden)}
        console.print(
            f"{folder}: "
            + "  ".join(f"{k} {v:.4g}" for k, v in shown.items())
            + f"  pictures in {out}"
        )
        return numbers


def start(
    model: Autoencoder, data: Data, *, split: str = "val", workers: Workers | None = None
) -> Started:
    """Measure the analyses on `split` ("test", "val" or "train") and hand their CPU halves
    to `workers` (None: run them now); the model is left as it was."""
    was_training = model.training
    x, y = data.samples(split)
    parts = measure(model, data, x, y)
    model.train(was_training)
    workers = workers or Workers()
    results = [workers.submit(p) if isinstance(p, Later) else (lambda p=p: p) for p in parts]
    return Started(results, model.stochastic)


def analyze(
    run_dir: str | Path,
    model: Autoencoder,
    data: Data,
    writer=None,
    step: int = 0,
    *,
    folder: str = "analysis",
    split: str = "val",
    tag: str | None = None,
    to: Path | None = None,
) -> dict[str, float]:
    """Run the analyses on `split`, write the pictures, return the numbers (`start`, then
    `Started.write`)."""
    begun = start(model, data, split=split)
    return begun.write(run_dir, writer, step, folder=folder, tag=tag, to=to)


# The numbers printed on one line after training (everything goes to metrics.json).
HEADLINE = (
    "pca/max_angle_deg",
    "pca/mse_ratio",
    "vector_field/mean_cos",
    "tangents/jacobian_abs_cos",
    "tangents/local_pca_abs_cos",
    "sparsity/frac_exact_zero",  # what ReLU codes under an L1 penalty produce
    "sparsity/frac_near_zero",
    "sparsity/active_units_per_sample",
    "onehot/patterns_reproduced",
    "probe/accuracy",
)
