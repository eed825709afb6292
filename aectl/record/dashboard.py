"""What a run adds to TensorBoard once, besides HParams: the custom-scalars layout and the
resolved config as text.

The layout (CUSTOM SCALARS tab) overlays what a person compares: training against
validation reconstruction, the unweighted penalty term and λ·term, each train against val,
per epoch; the one-value tags sit in a category that starts closed. TensorBoard merges the
layouts of every run under a logdir, dropping charts repeated within a category of the same
title, so each run writes its own. The summary is built from tensorboard's protos as
`tensorboard.plugins.custom_scalar.summary.pb` builds it (that one needs TensorFlow; torch's
`add_custom_scalars` cannot mark a category closed). The config is a fenced YAML block in
the TEXT tab (TensorBoard's markdown renders fenced code).
"""

from __future__ import annotations

import re
from typing import Any

CONFIG_TAG = "config"  # shown as config/text_summary


def _exact(*tags: str) -> list[str]:
    return [f"^{re.escape(t)}$" for t in tags]  # the plugin's tags are regular expressions


def layout(term: str | None, weight_key: str = "regularizer.weight") -> Any:
    """The layout for a run whose penalty term is `term` (None: no penalty)."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    def chart(title: str, tags: list[str]) -> Any:
        return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=tags))

    curves = [chart("reconstruction: train vs val", _exact("epoch/train_recon", "val/recon"))]
    if term is not None:
        curves += [
            chart(
                f"{term}: train vs val (unweighted term)",
                _exact(f"epoch/train_{term}", f"val/{term}"),
            ),
            chart(
                f"λ·term ({weight_key} x {term}): train vs val",
                _exact("epoch/train_penalty", "val/penalty"),
            ),
        ]
    curves.append(chart("loss: per window vs per epoch", _exact("train/loss", "epoch/train_loss")))
    return layout_pb2.Layout(
        category=[
            layout_pb2.Category(title="reconstruction and penalty, per epoch", chart=curves),
            layout_pb2.Category(
                title="code",
                chart=[
                    chart("code activity", _exact("code/mean_activation", "code/frac_near_zero"))
                ],
            ),
            layout_pb2.Category(
                title="final values (one point per run)",
                closed=True,
                chart=[
                    chart("best", [r"^whole_run/best_"]),
                    chart(
                        "throughput and time",
                        [r"^whole_run/(samples_per_s|epoch_samples_per_s|train_time_s)$"],
                    ),
                    chart("analysis", [r"^whole_run/analysis/"]),
                ],
            ),
        ]
    )


def layout_summary(lay: Any) -> Any:
    """The `custom_scalars__config__` summary: the serialized layout as a string tensor."""
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2
    from tensorboard.plugins.custom_scalar import metadata

    tensor = tensor_pb2.TensorProto(
        dtype=7,  # DT_STRING
        string_val=[lay.SerializeToString()],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
    )
    value = summary_pb2.Summary.Value(
        tag=metadata.CONFIG_SUMMARY_TAG, metadata=metadata.create_summary_metadata(), tensor=tensor
    )
    return summary_pb2.Summary(value=[value])


def config_markdown(yaml_text: str, heading: str = "") -> str:
    """The config as a fenced YAML block (a longer fence if the text holds one), under a
    one-line `heading` (what the model is: undercomplete or overcomplete)."""
    fence = "````" if "```" in yaml_text else "```"
    top = f"{heading}\n\n" if heading else ""
    return f"{top}{fence}yaml\n{yaml_text.rstrip()}\n{fence}\n"
