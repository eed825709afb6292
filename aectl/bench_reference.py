"""The training loop most tutorials write, kept apart so aectl's speed is measured against it.

Why it exists: issue 6 asks for aectl's step to be compared with "the loop everyone else
writes": a torchvision-style Dataset that turns one uint8 image into a float tensor per
item, a `DataLoader(shuffle=True, batch_size=256, num_workers=0)`, the same model, Adam,
and `loss.item()` every step. The benchmark times it and the equivalence test checks that
aectl's step computes the same losses for the same batches.

The per-item conversion is the plain-tensor form of torchvision's `ToTensor()` (no PIL
round trip), which makes this reference a little faster than the tutorials, not slower.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset


class TutorialDataset(Dataset):
    """One (1, H, W) float image in [0, 1] and its integer label per `__getitem__`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        if images.dtype != torch.uint8 or images.dim() != 3:
            raise ValueError(
                f"expected (N, H, W) uint8 images, got {tuple(images.shape)} {images.dtype}"
            )
        self.images = images
        self.labels = labels if labels is not None else torch.zeros(len(images), dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = self.images[i]
        return img.to(torch.float32).div(255).unsqueeze(0), int(self.labels[i])


def tutorial_loader(
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    batch_size: int = 256,
    order: Sequence[int] | None = None,
) -> DataLoader:
    """`DataLoader(shuffle=True)`, or, given `order`, batches in exactly that index order
    (what the equivalence test needs to feed both loops the same batches)."""
    ds = TutorialDataset(images, labels)
    if order is None:
        return DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=0)
    return DataLoader(ds, batch_size=batch_size, sampler=list(order), num_workers=0)


def batches_forever(loader: DataLoader) -> Iterator[torch.Tensor]:
    """The loader's images, epoch after epoch (labels dropped, as an autoencoder does)."""
    while True:
        for x, _ in loader:
            yield x


def train_steps(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    batches: Iterator[torch.Tensor],
    steps: int,
    device: torch.device | str,
) -> tuple[int, list[float]]:
    """`steps` tutorial steps: samples seen and each step's loss (read with `.item()`)."""
    seen, history = 0, []
    model.train()
    for _ in range(steps):
        x = next(batches).to(device)
        x_hat = model(x)
        loss = F.mse_loss(x_hat, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
        seen += len(x)
    return seen, history
