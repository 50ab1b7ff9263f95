"""Lesson 05's exercises (draft: the lead turns this into ``segcourse/exercises/lesson05.py``).

* 05.potts: the Potts label compatibility as a (C, C) matrix.
* 05.appearance_weight: the appearance kernel between two pixels, and why it needs theta_beta.
* 05.mean_field_step: one parallel mean-field update on a small dense CRF.

Expected values come from ``segcourse.ops.crf`` (checked in tests/test_crf.py against brute force
and pydensecrf). The checkers say what is wrong without printing the expected numbers.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .checking import Case, Exercise, check_function

__all__ = ["potts_cases", "appearance_cases", "mean_field_cases", "EXERCISES"]


def _as_array(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return np.float64(x)
    return None


def _run(fn, cases, diagnose, atol=1e-6) -> tuple[bool, list[str]]:
    """:func:`check_function` with a hint from ``diagnose(got as an array, case)`` (never the value)."""
    def hint(case, got):
        g = _as_array(got)
        return diagnose(g, case) if g is not None and g.shape == np.shape(case.expected) else None
    return check_function(fn, cases, atol=atol, diagnose=hint)


# ---------------------------------------------------------------------------------------------
# 05.potts
# ---------------------------------------------------------------------------------------------

def potts_cases() -> list[Case]:
    """``potts(num_labels) -> (C, C)`` with mu(l, l') = 1 if l != l' else 0."""
    from ..ops.crf import potts_compatibility
    return [Case(f"{c} labels", (c,), potts_compatibility(c).numpy()) for c in (2, 3, 6, 21)]


def _diagnose_potts(g, case) -> str:
    c = case.args[0]
    if np.allclose(g, np.eye(c)):
        return ("mu(l, l') is the cost of giving two pixels labels l and l': equal labels must cost "
                "nothing, different labels cost 1. You have it the other way round.")
    if np.allclose(g, -np.eye(c)):
        return ("-I is how pydensecrf writes Potts (it gives the same mean-field update, because the "
                "two differ by a constant per pixel), but as a cost matrix mu(l, l) must be 0 and "
                "mu(l, l') = 1 for l != l'.")
    if np.allclose(np.diag(g), 0):
        return "the diagonal is right (0); every off-diagonal entry (different labels) should cost the same, 1."
    return "look at the diagonal: two equal labels cost nothing."


def _check_potts(fn):
    return _run(fn, potts_cases(), _diagnose_potts)


def _solution_potts():
    def potts(num_labels):
        return 1.0 - torch.eye(num_labels)
    return potts


# ---------------------------------------------------------------------------------------------
# 05.appearance_weight
# ---------------------------------------------------------------------------------------------

_APPEARANCE = [  # (p_i (row, col), p_j, I_i (RGB), I_j, theta_alpha, theta_beta, w1)
    ("neighbours, same colour", (10, 10), (10, 11), (200, 30, 30), (200, 30, 30), 80., 13., 10.),
    ("neighbours across an edge", (10, 10), (10, 11), (200, 30, 30), (40, 40, 160), 80., 13., 10.),
    ("far apart, same colour", (0, 0), (60, 80), (90, 90, 90), (92, 88, 90), 80., 13., 10.),
    ("DeepLab's parameters", (5, 7), (9, 4), (120, 130, 140), (125, 128, 135), 121., 5., 4.),
    ("large theta_beta", (10, 10), (10, 11), (200, 30, 30), (40, 40, 160), 80., 1000., 10.),
]


def appearance_cases() -> list[Case]:
    """``appearance_weight(p_i, p_j, I_i, I_j, theta_alpha, theta_beta, w1) -> float``:
    w1 exp(-|p_i - p_j|^2 / (2 theta_alpha^2) - |I_i - I_j|^2 / (2 theta_beta^2))."""
    from ..ops.crf import crf_features, gaussian_kernel_matrix
    cases = []
    for name, pi, pj, ii, ij, ta, tb, w1 in _APPEARANCE:
        # a 2-pixel "image" whose features are those of the two pixels (positions via the row/col)
        f_i = torch.tensor([pi[1] / ta, pi[0] / ta, *(v / tb for v in ii)], dtype=torch.float64)
        f_j = torch.tensor([pj[1] / ta, pj[0] / ta, *(v / tb for v in ij)], dtype=torch.float64)
        k = gaussian_kernel_matrix(torch.stack([f_i, f_j]))[0, 1].item()
        cases.append(Case(name, (pi, pj, ii, ij, ta, tb, w1), w1 * k))
    assert crf_features is not None  # the same scaling as crf_features (x/theta, y/theta, RGB/theta)
    return cases


def _appearance_variants(case) -> dict:
    pi, pj, ii, ij, ta, tb, w1 = case.args
    dp = sum((a - b) ** 2 for a, b in zip(pi, pj))
    dc = sum((float(a) - float(b)) ** 2 for a, b in zip(ii, ij))
    return {
        "no_colour": w1 * math.exp(-dp / (2 * ta * ta)),
        "no_two": w1 * math.exp(-dp / (ta * ta) - dc / (tb * tb)),
        "no_square": w1 * math.exp(-dp / (2 * ta) - dc / (2 * tb)),
        "no_w": math.exp(-dp / (2 * ta * ta) - dc / (2 * tb * tb)),
        "swapped": w1 * math.exp(-dp / (2 * tb * tb) - dc / (2 * ta * ta)),
        "l1_colour": w1 * math.exp(-dp / (2 * ta * ta) - sum(abs(float(a) - float(b)) for a, b in zip(ii, ij)) ** 2
                                   / (2 * tb * tb)),
    }


def _diagnose_appearance(g, case) -> str:
    hints = {
        "no_colour": ("the colour term is missing: without |I_i - I_j|^2 / (2 theta_beta^2) the kernel "
                      "is blind to edges, so it would smooth labels across object boundaries just like "
                      "the smoothness kernel. theta_beta is what makes it stop at colour edges."),
        "no_two": "a Gaussian with standard deviation theta has 2 theta^2 in the denominator.",
        "no_square": "divide by theta squared (theta is a standard deviation, in pixels / colour levels).",
        "no_w": "multiply by the kernel's weight w1.",
        "swapped": "theta_alpha scales the positions and theta_beta the colours, not the other way round.",
        "l1_colour": "the colour distance is the squared Euclidean distance summed over R, G, B.",
    }
    for key, value in _appearance_variants(case).items():
        if np.isclose(float(g), value, rtol=1e-6, atol=1e-12):
            return hints[key]
    return "check the squared distances (positions, colours) and the 2 theta^2 denominators."


def _check_appearance(fn):
    return _run(fn, appearance_cases(), _diagnose_appearance, atol=1e-9)


def _solution_appearance():
    def appearance_weight(p_i, p_j, I_i, I_j, theta_alpha, theta_beta, w1):
        dp = sum((a - b) ** 2 for a, b in zip(p_i, p_j))
        dc = sum((float(a) - float(b)) ** 2 for a, b in zip(I_i, I_j))
        return w1 * math.exp(-dp / (2 * theta_alpha ** 2) - dc / (2 * theta_beta ** 2))
    return appearance_weight


# ---------------------------------------------------------------------------------------------
# 05.mean_field_step
# ---------------------------------------------------------------------------------------------

def mean_field_cases() -> list[Case]:
    """``mean_field_step(Q, U, A) -> Q_new``: Q, U (N, C), A (N, N) symmetric with zero diagonal
    (the weighted kernels, j != i), Potts: Q_new = softmax over labels of (-U - mu (A Q))."""
    from ..ops.crf import mean_field_step
    g = torch.Generator().manual_seed(5)
    cases = []
    for name, n, c, scale in (("4 pixels, 2 labels", 4, 2, 1.0), ("6 pixels, 3 labels", 6, 3, 2.0),
                              ("12 pixels, 4 labels, strong kernel", 12, 4, 5.0)):
        u = torch.rand(n, c, generator=g, dtype=torch.float64) * 3
        q = torch.softmax(-u, 1)
        a = torch.rand(n, n, generator=g, dtype=torch.float64) * scale
        a = (a + a.T) / 2
        a.fill_diagonal_(0)
        expected = mean_field_step(q.T.reshape(c, n, 1), u.T.reshape(c, n, 1), a).reshape(c, n).T
        cases.append(Case(name, (q, u, a), expected.numpy()))
    return cases


def _diagnose_mean_field(g, case) -> str:
    q, u, a = (x.double() for x in case.args)
    if np.allclose(g.sum(0), 1) and not np.allclose(g.sum(1), 1):
        return "each pixel's Q_i must sum to 1 over the labels: normalise along dim 1, not over pixels."
    if not np.allclose(g.sum(1), 1, atol=1e-6):
        return "each row (pixel) must sum to 1 over the labels: did you forget to normalise (the softmax)?"
    aq = a @ q
    mu_aq = aq.sum(1, keepdim=True) - aq
    wrong = {
        # softmax(-U + mu A Q) = softmax(-U - A Q): the same array for Potts
        "sign": (torch.softmax(-u + mu_aq, 1), "the pairwise term is a cost: subtract mu(A Q) (for Potts "
                 "the same as adding A Q). Yours pushes pixels away from their neighbours' labels."),
        "no_unary": (torch.softmax(-mu_aq, 1), "the unary -U is missing from the update."),
        "unary_sign": (torch.softmax(u - mu_aq, 1), "U is an energy (-log P): the update uses -U."),
        "no_messages": (torch.softmax(-u, 1), "the messages A Q are missing: this is just softmax(-U)."),
    }
    for arr, hint in wrong.values():
        if np.allclose(g, arr.numpy(), atol=1e-6):
            return hint
    return "follow the four steps: A Q (message passing), mu (compatibility), -U - ... , softmax over labels."


def _check_mean_field(fn):
    return _run(fn, mean_field_cases(), _diagnose_mean_field)


def _solution_mean_field():
    def mean_field_step(Q, U, A):
        messages = A @ Q                                          # (N, C): sum_j A_ij Q_j(l)
        mu = 1.0 - torch.eye(Q.shape[1], dtype=Q.dtype)
        pairwise = messages @ mu.T                                # sum_l' mu(l, l') messages(l')
        return torch.softmax(-U - pairwise, dim=1)
    return mean_field_step


EXERCISES = {
    "05.potts": Exercise("the Potts label compatibility as a matrix", _check_potts, _solution_potts),
    "05.appearance_weight": Exercise("the appearance kernel between two pixels", _check_appearance, _solution_appearance),
    "05.mean_field_step": Exercise("one mean-field update on a small dense CRF", _check_mean_field, _solution_mean_field),
}
