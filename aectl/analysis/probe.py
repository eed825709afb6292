"""Linear probe: how much label information the frozen codes carry, linearly.

Logistic regression (scikit-learn, on standardised codes) is fitted on the training
split's codes and scored on another split's (test at the end of a run, the split `aectl
eval` measures); the encoder is not touched. Reported
with the majority-class rate, the accuracy a probe gets from codes that carry nothing.
The picture is the validation confusion matrix.
"""

from __future__ import annotations

import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from aectl.analysis.codes import codes
from aectl.data.base import Data
from aectl.models.autoencoder import Autoencoder
from aectl.record import pictures

plt = pictures.pyplot()  # Agg; this module is imported only when an analysis runs

MAX_ITER = 500


def probe(
    model: Autoencoder, data: Data, x: torch.Tensor, y: torch.Tensor
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Fitted on the training split (needs data.train_y), scored on the samples x, labels y."""
    h_train, h_val = (
        codes(model, data.train_x).cpu().numpy(),
        codes(model, x).cpu().numpy(),
    )
    y_train, y_val = data.train_y.cpu().numpy(), y.cpu().numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITER))
    # One BLAS thread: the fit is many small products (samples x code x classes), where
    # OpenBLAS's threads cost more than they share; measured on 2 cores, 10x faster.
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(h_train, y_train)
    pred = clf.predict(h_val)
    numbers = {
        "probe/accuracy": float((pred == y_val).mean()),
        "probe/train_accuracy": float(clf.score(h_train, y_train)),
        "probe/majority_rate": float(torch.bincount(y.cpu()).max() / len(y_val)),
    }
    fig, ax = plt.subplots(figsize=(5, 4.5))
    with warnings.catch_warnings():  # a tiny validation split may hold one label only
        warnings.simplefilter("ignore", UserWarning)
        ConfusionMatrixDisplay.from_predictions(
            y_val,
            pred,
            normalize="true",
            values_format=".2f",
            ax=ax,
            colorbar=False,
            text_kw={"fontsize": 6},
        )
    ax.set_title(
        f"linear probe on frozen codes: accuracy {numbers['probe/accuracy']:.3f}", fontsize=9
    )
    # fixed margins: tight_layout would draw the figure (100 numbers) once more to measure it
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.93)
    return numbers, {"probe_confusion": pictures.figure_to_tensor(fig)}
