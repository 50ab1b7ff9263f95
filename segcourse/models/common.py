"""Pieces every model file shares: counting multiply-accumulates, zero-initialised 1x1 convolutions."""
from __future__ import annotations

import torch
from torch import nn

from .._validate import check_int

__all__ = ["conv_macs", "zero_conv"]


def conv_macs(model: nn.Module, input_shape) -> int:
    """Multiply-accumulates of every Conv2d / Linear / ConvTranspose2d in one forward pass.

    input_shape: (N, 3, H, W) for the model's ``forward`` (use ``model.forward_dense`` through a
    wrapper for dense passes). Counted with forward hooks on a zero input.
    """
    shape = tuple(check_int(s, "input_shape", min_value=1) for s in input_shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape: expected (N, 3, H, W), got {shape}")
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):           # each output value: in/groups * kh * kw MACs
            total[0] += out.numel() * mod.weight[0].numel()
        elif isinstance(mod, nn.ConvTranspose2d):  # each input value scatters out/groups * kh * kw
            total[0] += inp[0].numel() * mod.weight[0].numel()
        else:
            total[0] += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        was = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(shape))
        model.train(was)
    finally:
        for h in handles:
            h.remove()
    return int(total[0])


def zero_conv(cin: int, cout: int) -> nn.Conv2d:
    """A 1x1 convolution with zero weights and bias: a new branch that starts as "add nothing"."""
    conv = nn.Conv2d(cin, cout, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv
