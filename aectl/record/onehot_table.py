"""The 8-3-8 table (input, hidden values, output), printed with rich and saved to the run."""

from __future__ import annotations

from pathlib import Path

import torch
from rich.table import Table

from aectl.record.progress import console


@torch.no_grad()
def table(model, x: torch.Tensor) -> tuple[Table, int]:
    model.eval()
    h = model.encode(x).flatten(1)
    out = model.decode(h).flatten(1)
    t = Table(title="8-3-8 code table")
    t.add_column("input")
    t.add_column("hidden")
    t.add_column("output")
    t.add_column("ok")
    correct = 0
    for xi, hi, oi in zip(x.flatten(1), h, out):
        ok = int(oi.argmax()) == int(xi.argmax())
        correct += ok
        t.add_row(
            "".join(str(int(v)) for v in xi.round().tolist()),
            " ".join(f"{v:.2f}" for v in hi.tolist()),
            " ".join(f"{v:.2f}" for v in oi.tolist()),
            "✓" if ok else "✗",
        )
    return t, correct


def show(model, data, run_dir: Path) -> int:
    x = torch.unique(data.val_x, dim=0).flip(0)
    t, correct = table(model, x)
    console.print(t)
    console.print(f"{correct}/{len(x)} patterns reproduced (argmax of output = input)")
    with open(run_dir / "code_table.txt", "w") as f:
        from rich.console import Console

        Console(file=f, width=120).print(t)
    return correct
