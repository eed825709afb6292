"""Schema of the `trainer` group: how long, how big, where, and how often to log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from aectl.config.metrics import MONITORS
from aectl.config.schema import knob, require_seed, schema
from aectl.errors import require

DEVICES = ("auto", "cpu", "cuda", "mps")
# bce: Bernoulli pixels; gaussian: N(x̂, σ²) pixels with arch.sigma's σ (stochastic codes:
# both are negative log-likelihoods in nats per example, summed over the pixels)
LOSSES = ("mse", "bce", "gaussian")
PRECISIONS = ("32", "bf16")
# torch.compile modes that leave CUDA graphs to aectl's own capture of the whole step
# (optimizer included); "max-autotune-no-cudagraphs" tunes the matrix products and fuses
# their epilogues (slow to compile: it times candidate kernels for every shape).
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs")
BINARIZE_SEED = 0  # the held-out splits' one fixed binarization
CHECKPOINTS = ("last", "best")  # what the end-of-run analyses may describe
ANALYZE = (*CHECKPOINTS, "none")  # none: no analyses at the end (`aectl eval` runs them)


@schema("trainer", "default")
@dataclass
class TrainerConfig:
    # runs saved before bce_from_logits existed were trained with the clamped BCE
    OLD_DEFAULTS: ClassVar[dict[str, Any]] = {"bce_from_logits": False}

    max_epochs: int = knob(50)
    batch_size: int = knob(128)
    device: str = "auto"  # auto: CUDA, else MPS, else CPU
    seed: int = knob(0, stackable=True)
    loss: str = knob("mse", choices=LOSSES)  # reconstruction loss against the clean input
    log_every_n_steps: int = 10
    num_images: int = 16  # samples shown in reconstruction grids
    # reconstruction pictures and code histograms; null: about ten over the run. The last
    # epoch always gets one.
    picture_every_n_epochs: int | None = None
    resume: str | None = None  # auto: continue this run folder's last.pt if any; or a path
    precision: str = "32"  # 32 | bf16 (autocast inside the network)
    compile: bool = False  # torch.compile the step (CUDA: plus a CUDA graph)
    layerwise: bool = False  # pretrain a deep encoder one layer at a time, then fine-tune
    layerwise_epochs: int = 10  # epochs per layer-wise stage
    monitor: str = "val/recon"  # what a job returns to sweepers (Optuna minimises it)
    # true: BCE from the sigmoid output's logits, exact at saturation; false: aectl 0.1's
    # BCE of outputs clamped to [1e-6, 1 - 1e-6] (no gradient once saturated), kept so its
    # runs resume bit for bit
    bce_from_logits: bool = True
    # the checkpoint the end-of-run analyses describe: last | best; none skips them (the
    # test split is still measured; `aectl eval` runs the analyses on a checkpoint later)
    analyze: str = "last"
    # dynamic binarization (binary likelihoods): each training batch is drawn as
    # Bernoulli(x) every time it is seen; validation and test splits are binarized once,
    # with a fixed seed (BINARIZE_SEED), so their numbers are comparable between runs
    binarize: bool = False

    @property
    def step_loss(self) -> str:
        """The loss the step computes: mse, bce (from logits) or bce_clamped."""
        if self.loss == "bce" and not self.bce_from_logits:
            return "bce_clamped"
        return self.loss

    def pictures_now(self, epoch: int) -> bool:
        """Whether epoch `epoch` (1-based) writes a reconstruction picture and histogram."""
        every = self.picture_every_n_epochs or max(1, round(self.max_epochs / 10))
        return epoch % every == 0 or epoch == self.max_epochs

    def __post_init__(self) -> None:
        require(
            self.max_epochs >= 1, "trainer.max_epochs", self.max_epochs, "allowed: an integer >= 1"
        )
        require(
            self.batch_size >= 1, "trainer.batch_size", self.batch_size, "allowed: an integer >= 1"
        )
        require_seed("trainer.seed", self.seed)
        require(
            self.device in DEVICES, "trainer.device", self.device, f"allowed: {', '.join(DEVICES)}"
        )
        require(
            self.precision in PRECISIONS,
            "trainer.precision",
            self.precision,
            f"allowed: {', '.join(PRECISIONS)}",
        )
        require(
            self.resume is None or str(self.resume).strip() != "",
            "trainer.resume",
            self.resume,
            "allowed: auto, or a checkpoint path",
        )
        require(
            self.layerwise_epochs >= 1,
            "trainer.layerwise_epochs",
            self.layerwise_epochs,
            "allowed: an integer >= 1",
        )
        require(
            self.monitor in MONITORS,
            "trainer.monitor",
            self.monitor,
            f"allowed: {', '.join(MONITORS)}",
        )
        require(self.loss in LOSSES, "trainer.loss", self.loss, f"allowed: {', '.join(LOSSES)}")
        require(
            self.analyze in ANALYZE,
            "trainer.analyze",
            self.analyze,
            f"allowed: {', '.join(ANALYZE)}",
        )
        require(
            self.log_every_n_steps >= 1,
            "trainer.log_every_n_steps",
            self.log_every_n_steps,
            "allowed: an integer >= 1",
        )
        require(
            self.picture_every_n_epochs is None or self.picture_every_n_epochs >= 1,
            "trainer.picture_every_n_epochs",
            self.picture_every_n_epochs,
            "allowed: an integer >= 1, or null (about ten over the run)",
        )
        require(
            self.num_images >= 1, "trainer.num_images", self.num_images, "allowed: an integer >= 1"
        )
