"""Issue 13's peer: the same 20-epoch MNIST job trained by pythae's default trainer.

Why it exists: issue 13 set aectl's whole-run time against pythae 0.1.2's on the same job
(784-512-16 MLP autoencoder, 8,000 training and 1,000 evaluation images, batch 100, Adam
1e-3, 20 epochs). pythae is not one of aectl's dependencies, so this file imports nothing
of aectl and runs under any Python that has pythae and torch:

    python aectl/bench/peer_pythae.py IMAGES.gz OUT_DIR [cpu|cuda]

`aectl bench --sections run --peer-python PYTHON` runs it as a subprocess between aectl's
runs and times it from process start to exit, as it times `aectl train`. It prints one
JSON line: when training started (unix seconds) and how long pythae's `TrainingPipeline`
took (its training loop with its own per-epoch evaluation and its final model save).
"""

from __future__ import annotations

import gzip
import json
import sys
import time

import numpy as np
import torch
from torch import nn


def read_idx_images(path: str, limit: int) -> np.ndarray:
    """The first `limit` images of an IDX file (gzip or not), as float32 in [0, 1]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    n, h, w = (int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, h, w)
    return pixels[:limit].astype(np.float32) / 255.0


def main(images: str, out_dir: str, device: str = "cpu") -> dict:
    from pythae.models import AE, AEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 16)
            )

        def forward(self, x):
            return ModelOutput(embedding=self.net(x))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(16, 512), nn.ReLU(), nn.Linear(512, 784), nn.Sigmoid()
            )

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z).view(-1, 1, 28, 28))

    x = read_idx_images(images, 9000)
    config = AEConfig(input_dim=(1, 28, 28), latent_dim=16)
    model = AE(config, encoder=Encoder(), decoder=Decoder())
    trainer = BaseTrainerConfig(
        output_dir=out_dir,
        num_epochs=20,
        per_device_train_batch_size=100,
        per_device_eval_batch_size=100,
        learning_rate=1e-3,
        no_cuda=device != "cuda",
    )
    pipeline = TrainingPipeline(model=model, training_config=trainer)
    start = time.time()
    t0 = time.perf_counter()
    pipeline(train_data=x[:8000], eval_data=x[8000:9000])
    return {"train_start_unix": start, "pipeline_s": time.perf_counter() - t0}


if __name__ == "__main__":
    args = sys.argv[1:]
    torch.manual_seed(0)
    print(json.dumps(main(args[0], args[1], *(args[2:3] or ["cpu"]))))
