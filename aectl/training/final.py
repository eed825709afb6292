"""What a finished run reports, once: the test split measured on both checkpoints, and the
analyses on the checkpoint `trainer.analyze` names.

Model selection (best.pt, `trainer.monitor`, Optuna) sees only the validation split; the
test split is measured here, after training, for last.pt and best.pt alike
(`test/last/...`, `test/best/...` in metrics.json): the numbers to quote. The analyses
(PCA comparison, vector field, tangents, sparsity, probe) describe one checkpoint, on the
test split when there is one (else validation), and metrics.json says which
(`analyzed`). Each block starts from the run's seed, as `aectl eval` does, so evaluating
the same checkpoint on the same split gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from aectl import analysis, faults
from aectl.analysis.later import Workers
from aectl.record.progress import console
from aectl.training import checkpoint
from aectl.training.measure import AT_THE_MEAN, psnr_peak, report
from aectl.training.member import BEST, Member
from aectl.training.seeding import seed_everything


def reporting_split(data) -> str:
    """The split reported numbers come from: test, or validation for data without one."""
    return "test" if data.test_x is not None else "val"


@dataclass
class Final:
    """A member's final numbers, measured, with its analyses' CPU halves perhaps still
    running (`begin`); `numbers` waits for them, writes their pictures and prints."""

    m: Member
    out: dict[str, Any]
    analyses: analysis.Started | None = None

    def numbers(self) -> dict[str, Any]:
        m = self.m
        if self.analyses is not None:
            self.out.update(self.analyses.write(m.run_dir, m.log.writer, m.state.step))
        _print(self.out, m.cfg.trainer.loss, m.model.stochastic)
        return self.out


def begin(m: Member, workers: Workers | None = None) -> Final:
    """Measure test/{last,best}/* and start the analyses of `trainer.analyze`'s checkpoint
    (their CPU halves in `workers`; None: at once); the model holds the last weights again
    afterwards."""
    faults.hit("analysis")
    t, data = m.cfg.trainer, m.data
    m.log.landed()  # best.pt is read back from disk
    last = {k: v.detach().clone() for k, v in m.model.state_dict().items()}
    final = Final(m, {"splits": data.sizes()})
    out = final.out
    # the analysed checkpoint last (trainer.analyze=none: measured, not analysed)
    order = [c for c in ("last", "best") if c != t.analyze]
    order += [t.analyze] if t.analyze != "none" else []
    measured: dict[int, dict[str, Any]] = {}  # test numbers by epoch: one set of weights each
    try:
        for which in order:
            epoch = _load(m, which, last)
            if epoch is None:
                continue
            if data.test_x is not None:
                # best.pt saved in the last epoch holds last.pt's weights: the same numbers
                if epoch not in measured:
                    seed_everything(t.seed)
                    measured[epoch] = report(
                        m.model, m.reg, data, data.test_x, t.step_loss, t.batch_size
                    )
                out.update({f"test/{which}/{k}": v for k, v in measured[epoch].items()})
            if which == t.analyze:
                split = reporting_split(data)
                seed_everything(t.seed)
                final.analyses = analysis.start(m.model, data, split=split, workers=workers)
                out["analyzed"] = {"checkpoint": which, "epoch": epoch, "split": split}
    finally:
        m.model.load_state_dict(last)
    if data.is_image:
        peak, source = psnr_peak(data)
        out["psnr_peak"] = {"value": peak, "from": source}
    return final


def _load(m: Member, which: str, last: dict[str, torch.Tensor]) -> int | None:
    """Put checkpoint `which`'s weights into the model; its epoch (None: no such file)."""
    if which == "last":
        m.model.load_state_dict(last)
        return m.state.epoch
    path = m.run_dir / BEST
    if not path.is_file():
        return None
    state = checkpoint.load(path)
    checkpoint.load_model_state(m.model, state)
    return state["epoch"]


def _print(out: dict[str, Any], loss: str, stochastic: bool) -> None:
    key = f"recon/{loss}"
    if f"test/last/{key}" not in out:
        return
    line = (
        f"test split ({out['splits']['test']} samples): {key} {out[f'test/last/{key}']:.5g} (last)"
    )
    if f"test/best/{key}" in out:
        line += f", {out[f'test/best/{key}']:.5g} (best)"
    console.print(line + (f"; {AT_THE_MEAN}" if stochastic else ""))
