"""Linear probe: how much label information the frozen codes carry, linearly.

A multinomial logistic regression on standardised codes, fitted on the training split's
codes and scored on another split's (test at the end of a run, the split `aectl eval`
measures); the encoder is not touched. Reported with the majority-class rate, the accuracy
a probe gets from codes that carry nothing. The picture is the confusion matrix.

The model is scikit-learn's default `make_pipeline(StandardScaler(), LogisticRegression())`
(L2 penalty C=1 on the weights, none on the biases, softmax over the classes): the same
objective in float64, minimised by the same solver with the same settings (SciPy's
L-BFGS-B, tol 1e-4, at most 500 iterations), the gradient in closed form;
tests/test_analysis.py checks the weights against scikit-learn's. Not scikit-learn itself:
importing it (it imports SciPy's statistics) took 1.3-2 s of every run's end, more than
the fit and the rest of the probe together. (Nor torch.optim.LBFGS: the first torch.optim
optimizer imports torch._dynamo, 2.3 s.)
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize
from torch.nn import functional as F

from aectl.analysis.codes import codes
from aectl.analysis.later import Later
from aectl.data.base import Data
from aectl.models.autoencoder import Autoencoder
from aectl.record import pictures

plt = pictures.pyplot()  # Agg; this module is imported only when an analysis runs

C = 1.0  # inverse L2 strength, scikit-learn's default
MAX_ITER = 500
TOL = 1e-4  # scikit-learn's default: on the largest projected gradient entry
EPS = float(np.finfo(np.float64).eps)


class Probe:
    """Standardise (the training codes' mean and population std; a constant unit is left
    unscaled, as StandardScaler does), then softmax over the training labels' classes
    (two classes: one logit against zero, scikit-learn's binomial form)."""

    def __init__(self, h: torch.Tensor, y: torch.Tensor):
        h = h.detach().double().cpu()
        self.classes, target = torch.unique(y.cpu(), return_inverse=True)
        self.mean = h.mean(0)
        std = h.std(0, correction=0)
        self.scale = torch.where(std > 0, std, torch.ones_like(std))
        z = self.standardise(h)
        rows = 1 if len(self.classes) == 2 else len(self.classes)
        self.w, self.b = _fit(z, target, len(self.classes), rows)

    def standardise(self, h: torch.Tensor) -> torch.Tensor:
        return (h.detach().double().cpu() - self.mean) / self.scale

    @torch.no_grad()
    def predict(self, h: torch.Tensor) -> torch.Tensor:
        z = self.standardise(h)
        if len(self.classes) < 2:
            return self.classes.repeat(len(z))
        return self.classes[logits(z, self.w, self.b).argmax(1)]


def logits(z: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One logit per class; one row of weights (two classes) is the second class's logit
    against a first fixed at zero."""
    s = z @ w.T + b
    return torch.cat([torch.zeros_like(s), s], 1) if len(b) == 1 else s


def _fit(z: torch.Tensor, target: torch.Tensor, k: int, rows: int):
    """(W, b) minimising scikit-learn's objective, mean cross-entropy + ||W||² / (2 C n), by
    its solver and settings (SciPy's L-BFGS-B, tol 1e-4, at most MAX_ITER iterations)."""
    n, d = z.shape
    if k < 2:
        return torch.zeros(rows, d, dtype=torch.float64), torch.zeros(rows, dtype=torch.float64)
    onehot = F.one_hot(target, k).double()

    def objective(wb: np.ndarray) -> tuple[float, np.ndarray]:
        wb = torch.from_numpy(wb)
        w, b = wb[: rows * d].reshape(rows, d), wb[rows * d :]
        logp = torch.log_softmax(logits(z, w, b), 1)
        loss = -(logp * onehot).sum() / n + w.pow(2).sum() / (2 * C * n)
        g = (logp.exp() - onehot)[:, -rows:] / n  # d loss / d logits (the free ones)
        grad = torch.cat([(g.T @ z + w / (C * n)).flatten(), g.sum(0)])
        return loss.item(), grad.numpy()

    options = {"maxiter": MAX_ITER, "maxls": 50, "gtol": TOL, "ftol": 64 * EPS}
    x0 = np.zeros(rows * d + rows)
    wb = minimize(objective, x0, jac=True, method="L-BFGS-B", options=options).x
    wb = torch.from_numpy(wb)
    return wb[: rows * d].reshape(rows, d), wb[rows * d :]


def probe(model: Autoencoder, data: Data, x: torch.Tensor, y: torch.Tensor) -> Later:
    """Fitted on the training split (needs data.train_y), scored on the samples x, labels y.
    The codes now; the fit and the picture, the probe's time, `Later` (`aectl.analysis.later`)."""
    h_train, h_x = codes(model, data.train_x).cpu(), codes(model, x).cpu()
    return Later(fit_and_score, (h_train, data.train_y.cpu(), h_x, y.cpu()))


def fit_and_score(
    h_train: torch.Tensor, y_train: torch.Tensor, h_x: torch.Tensor, y: torch.Tensor
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """The probe's numbers and confusion picture from the codes and labels alone."""
    fitted = Probe(h_train, y_train)
    pred = fitted.predict(h_x)
    numbers = {
        "probe/accuracy": (pred == y).double().mean().item(),
        "probe/train_accuracy": (fitted.predict(h_train) == y_train).double().mean().item(),
        "probe/majority_rate": (torch.bincount(y).max() / len(y)).item(),
    }
    title = (
        f"linear probe on frozen codes: accuracy {numbers['probe/accuracy']:.3f} ({len(y)} samples)"
    )
    return numbers, {"probe_confusion": confusion_picture(y, pred, title)}


def confusion_matrix(y: torch.Tensor, pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, matrix): row i counts the samples of label i by predicted label, each row
    divided by its total (a label absent from y gets a row of zeros)."""
    labels = torch.unique(torch.cat([y, pred]))
    k = len(labels)
    index = torch.searchsorted(labels, y) * k + torch.searchsorted(labels, pred)
    counts = torch.bincount(index, minlength=k * k).reshape(k, k).double()
    return labels, counts / counts.sum(1, keepdim=True).clamp(min=1)


def confusion_picture(y: torch.Tensor, pred: torch.Tensor, title: str) -> torch.Tensor:
    """The row-normalised confusion matrix; a cell that rounds to 0.00 is left blank, so
    the numbers that matter stand out."""
    labels, m = confusion_matrix(y, pred)
    k = len(labels)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(m.numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            if round(m[i, j].item(), 2) > 0:
                color = "black" if m[i, j] > 0.5 else "white"
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    names = [str(v) for v in labels.tolist()]
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted label (each row sums to 1; blank: below 0.005)", fontsize=9)
    ax.set_ylabel("true label")
    ax.set_title(title, fontsize=9)
    # fixed margins: tight_layout would draw the figure once more to measure it
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.93)
    return pictures.figure_to_tensor(fig)
