"""The one Autoencoder class every architecture builds: encode, decode, and what it is.

Architectures differ only in their encoder and decoder modules; training, penalties and
pictures talk to this interface. `encode` takes samples in their natural shape, `decode`
returns that shape, and `single_layer` exposes the encoder's (linear, activation) pair when
the encoder is one affine map followed by an elementwise activation, which is what the
contractive penalty's closed form needs.

A sigmoid's input is what exact losses need (a BCE or a KL computed from the
probabilities loses all gradient once the sigmoid saturates in float arithmetic):
`decode_logits` is the decoder's output before its final activation and `encode_logits`
the code's pre-activation, each computed by running the same modules and leaving out the
activation (no module is re-indexed, so a checkpoint's `state_dict` keys do not change).
"""

from __future__ import annotations

import torch
from torch import nn


class Autoencoder(nn.Module):
    # The config field that sets the code's activation, for error messages (a layer-wise
    # stage's code is a hidden layer, set by arch.activation).
    code_activation_field = "arch.code_activation"
    # Solved rather than trained (PCA): the trainer calls `fit(train_x)` and runs one
    # epoch of steps that only measure the losses.
    solved_in_closed_form = False
    # A Gaussian code q(h|x) (aectl.models.gaussian): encode_gaussian gives (μ, log σ²) and
    # the reconstruction loss is a negative log-likelihood in nats per example.
    stochastic = False

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        *,
        input_shape: tuple[int, ...],
        code_dim: int,
        code_activation: str,
        output_activation: str,
        arch: str,
        single_layer: tuple[nn.Linear, nn.Module] | None = None,
        code_act: nn.Module | None = None,
        output_act: nn.Module | None = None,
    ):
        """`code_act` and `output_act`: the encoder's last activation module (the code's)
        and the decoder's output activation module, for `encode_logits`/`decode_logits`."""
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.input_shape = tuple(input_shape)
        self.code_dim = code_dim
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.arch = arch
        # Plain attributes (not submodules): the layers are already registered in encoder.
        self._single_layer = single_layer
        self._acts = (code_act, output_act)

    @property
    def input_size(self) -> int:
        n = 1
        for s in self.input_shape:
            n *= s
        return n

    @property
    def completeness(self) -> str:
        """undercomplete (code smaller than the input), complete (equal) or overcomplete."""
        if self.code_dim == self.input_size:
            return "complete"
        return "undercomplete" if self.code_dim < self.input_size else "overcomplete"

    def fit(self, x: torch.Tensor) -> object:
        raise NotImplementedError(f"arch={self.arch} is trained, not solved in closed form")

    def single_layer(self) -> tuple[nn.Linear, nn.Module] | None:
        return self._single_layer

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @property
    def has_logits(self) -> bool:
        """Whether the output is a sigmoid of `decode_logits` (BCE can then be exact)."""
        return isinstance(self._acts[1], nn.Sigmoid)

    @property
    def has_code_logits(self) -> bool:
        """Whether the code is a sigmoid of `encode_logits` (a KL of rates can be exact)."""
        return isinstance(self._acts[0], nn.Sigmoid)

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The decoder's output before its output activation, in the output's shape."""
        return _without(self.decoder, self._acts[1], h)

    def encode_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The code before the code's activation (the encoder's last module)."""
        return _without(self.encoder, self._acts[0], x)


def _without(seq: nn.Module, act: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    """Run the modules of `seq` in order, leaving out `act` (elementwise, so leaving it out
    commutes with the reshapes after it)."""
    if act is None or not isinstance(seq, nn.Sequential):
        raise NotImplementedError("this model does not expose its activations' inputs")
    for m in seq:
        if m is not act:
            x = m(x)
    return x
