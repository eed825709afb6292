"""The training loop most tutorials write, kept apart so aectl's speed is measured against it.

Why it exists: issue 6 asks for aectl's step to be compared with "the loop everyone else
writes": a torchvision-style Dataset that turns one uint8 image into a float tensor per
item, a `DataLoader(shuffle=True, batch_size=256, num_workers=0)`, the same model, Adam,
and `loss.item()` every step. The benchmark times it and the equivalence test checks that
aectl's step computes the same losses for the same batches.

Two per-item datasets, both timed by the benchmark:
- "torchvision" (the reference): `torchvision.datasets.MNIST` itself with
  `transform=ToTensor()`, as the PyTorch tutorials write it. Its `__getitem__` is
  torchvision's own code (uint8 array → PIL image → `ToTensor()`); only the file reading is
  bypassed, so any IDX images (or synthetic ones) can be fed to it.
- "tensor": the same conversion without the PIL round trip (`uint8 → float / 255` on the
  tensor), a leaner loop than the tutorials'; it shows how much of the gap is the per-item
  PIL work and how much is the rest of the step.
Both give bit-identical batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

ITEMS = ("torchvision", "tensor")


def _check_images(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.dim() != 3:
        raise ValueError(
            f"expected (N, H, W) uint8 images, got {tuple(images.shape)} {images.dtype}"
        )


def _labels(images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return labels if labels is not None else torch.zeros(len(images), dtype=torch.int64)


def torchvision_mnist(images: torch.Tensor, labels: torch.Tensor | None = None) -> Dataset:
    """`torchvision.datasets.MNIST(transform=ToTensor())` over images already in memory:
    torchvision's `__getitem__`, untouched; only the download/file checks are skipped.

    torchvision is imported here, not at module level, so the benchmark still runs (its
    tensor-item rows) on a bare GPU machine that has torch alone.
    """
    from torchvision import datasets, transforms

    class InMemoryMNIST(datasets.MNIST):
        def __init__(self) -> None:
            datasets.VisionDataset.__init__(self, root=None, transform=transforms.ToTensor())
            self.train = False
            self.data, self.targets = images, _labels(images, labels)

    _check_images(images)
    return InMemoryMNIST()


class TensorItemDataset(Dataset):
    """One (1, H, W) float image in [0, 1] and its integer label per `__getitem__`, converted
    on the tensor (what `ToTensor()` computes, minus the PIL image)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        _check_images(images)
        self.images, self.labels = images, _labels(images, labels)

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
    items: str = "torchvision",
) -> DataLoader:
    """`DataLoader(shuffle=True)`, or, given `order`, batches in exactly that index order
    (what the equivalence test needs to feed both loops the same batches)."""
    if items not in ITEMS:
        raise ValueError(f"items must be one of {ITEMS}, got {items!r}")
    ds = (torchvision_mnist if items == "torchvision" else TensorItemDataset)(images, labels)
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
