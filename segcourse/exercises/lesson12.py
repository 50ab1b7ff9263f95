"""Lesson 12's exercises: Learning to Segment Every Thing.

* 12.transfer      -- what the weight-transfer function T outputs for given detection weights
                      (two linear layers with a LeakyReLU between them, torch's Linear layout).
* 12.partial_loss  -- Mask R-CNN's mask loss under partial supervision (only the RoIs of classes
                      with masks count).

Expected values come from :class:`segcourse.models.lse.WeightTransfer` and
:func:`segcourse.models.lse.partial_mask_loss` (tested in tests/test_lse.py against torch's conv2d
and torchvision's ``maskrcnn_loss``). A wrong answer is compared with the typical mistakes below;
the feedback names the mistake, never the expected value.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.lse import WeightTransfer, partial_mask_loss
from .checking import Case, Exercise, check_with_mistakes

__all__ = ["EXERCISES", "transfer_cases", "partial_loss_cases"]


# -- 12.transfer ----------------------------------------------------------------------------------

def _transfer_params(seed: int, k: int, d: int, h: int, c: int):
    g = torch.Generator().manual_seed(seed)
    t = WeightTransfer(d, c, "mlp", h)
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / t.net[0].in_features ** 0.5 if p is t.net[0].weight
                    else torch.randn(p.shape, generator=g) / 4)
    w_det = torch.randn(k, d, generator=g)
    lin1, lin2 = t.net[0], t.net[2]
    args = (w_det, lin1.weight.detach().clone(), lin1.bias.detach().clone(), lin2.weight.detach().clone(),
            lin2.bias.detach().clone())
    with torch.no_grad():
        return args, t(w_det)


def transfer_cases() -> list[Case]:
    """``transfer(w_det (K, D), W1 (H, D), b1 (H,), W2 (C1, H), b2 (C1,))`` -> (K, C1) mask weights."""
    out = []
    for name, seed, k, d, h, c in (("one class, tiny", 0, 1, 3, 2, 2), ("five classes", 1, 5, 8, 6, 4),
                                   ("course sizes", 2, 25, 1280, 128, 33)):
        args, expected = _transfer_params(seed, k, d, h, c)
        out.append(Case(name, args, expected))
    return out


def _solution_transfer():
    def transfer(w_det, W1, b1, W2, b2):
        hidden = w_det @ W1.T + b1                       # (K, H)
        hidden = torch.where(hidden > 0, hidden, 0.01 * hidden)   # LeakyReLU, slope 0.01
        return hidden @ W2.T + b2                        # (K, C + 1)
    return transfer


_TRANSFER_MISTAKES = {
    "relu": (lambda w, W1, b1, W2, b2: torch.relu(w @ W1.T + b1) @ W2.T + b2,
             "a plain ReLU drops the negative part; T uses a LeakyReLU (slope 0.01 for negative inputs)"),
    "slope": (lambda w, W1, b1, W2, b2: F.leaky_relu(w @ W1.T + b1, 0.2) @ W2.T + b2,
              "the LeakyReLU's negative slope is torch's default, 0.01"),
    "linear": (lambda w, W1, b1, W2, b2: (w @ W1.T + b1) @ W2.T + b2,
               "there is a nonlinearity between the two layers (without it T is one linear map)"),
    "no_bias": (lambda w, W1, b1, W2, b2: F.leaky_relu(w @ W1.T) @ W2.T,
                "each layer adds its bias"),
    "no_second_bias": (lambda w, W1, b1, W2, b2: F.leaky_relu(w @ W1.T + b1) @ W2.T,
                       "the second layer adds its bias b2 too"),
}


def _check_transfer(fn):
    return check_with_mistakes(fn, transfer_cases(), _TRANSFER_MISTAKES, atol=1e-3)


# -- 12.partial_loss ------------------------------------------------------------------------------

def partial_loss_cases() -> list[Case]:
    """``partial_loss(logits (R, K, M, M), labels (R,), targets (R, M, M), has_mask (K,) bool)`` -> a number."""
    out = []
    g = torch.Generator().manual_seed(12)
    for name, r, k, m, labels, has in (
            ("two RoIs, one of B", 2, 3, 2, [1, 2], [False, True, False]),
            ("mixed batch", 6, 4, 4, [1, 3, 2, 3, 1, 2], [False, True, False, True]),
            ("every class has masks", 4, 3, 3, [2, 1, 1, 2], [False, True, True])):
        logits = torch.randn(r, k, m, m, generator=g)
        targets = (torch.rand(r, m, m, generator=g) > 0.5).float()
        lab, hm = torch.tensor(labels), torch.tensor(has)
        out.append(Case(name, (logits, lab, targets, hm), float(partial_mask_loss(logits, lab, targets, hm))))
    return out


def _solution_partial_loss():
    def partial_loss(logits, labels, targets, has_mask):
        keep = has_mask[labels]                                    # RoIs whose class has masks
        z = logits[torch.arange(len(labels)), labels][keep]        # each RoI's own-class M x M logits
        return float(F.binary_cross_entropy_with_logits(z, targets[keep]))   # mean over kept pixels
    return partial_loss


def _own(logits, labels):
    return logits[torch.arange(len(labels)), labels]


_PARTIAL_MISTAKES = {
    "all_rois": (lambda z, lb, t, hm: float(F.binary_cross_entropy_with_logits(_own(z, lb), t)),
                 "the RoIs of classes without masks (B) must not count at all"),
    "divide_by_all": (lambda z, lb, t, hm: float((F.binary_cross_entropy_with_logits(_own(z, lb), t, reduction="none")
                                                  * hm[lb][:, None, None]).sum() / t.numel()),
                      "B RoIs are left out of the mean too: divide by the pixels of the kept RoIs only"),
    "channel0": (lambda z, lb, t, hm: float(F.binary_cross_entropy_with_logits(z[:, 0][hm[lb]], t[hm[lb]])),
                 "each RoI's loss reads the logits of its own ground-truth class (channel = label)"),
    "softmax": (lambda z, lb, t, hm: float(-(z.log_softmax(1)[torch.arange(len(lb)), lb] * t)[hm[lb]].mean()),
                "Mask R-CNN uses a per-pixel sigmoid and binary cross-entropy, not a softmax across classes"),
    "sum": (lambda z, lb, t, hm: float(F.binary_cross_entropy_with_logits(_own(z, lb)[hm[lb]], t[hm[lb]],
                                                                          reduction="sum")),
            "the loss is the mean over the kept RoIs' pixels, not the sum"),
}


def _check_partial_loss(fn):
    return check_with_mistakes(fn, partial_loss_cases(), _PARTIAL_MISTAKES, atol=1e-5)


EXERCISES = {
    "12.transfer": Exercise("the weight-transfer function T: detection weights -> mask weights",
                            _check_transfer, _solution_transfer),
    "12.partial_loss": Exercise("the mask loss under partial supervision", _check_partial_loss,
                                _solution_partial_loss),
}
