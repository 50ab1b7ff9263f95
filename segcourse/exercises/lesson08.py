"""Lesson 08's exercises: the parameters of a GCN block."""
from __future__ import annotations

import numpy as np
import torch

from .checking import Case, Exercise, as_number, check_function, number_matches

__all__ = ["EXERCISES", "gcn_params_cases"]


def gcn_params_cases() -> list[Case]:
    """``gcn_params(c_in, c_out, k)``: weights (no biases) of a GCN block, (k x 1 then 1 x k) +
    (1 x k then k x 1), with c_out channels in the middle as in the paper (counted from the draft's
    :class:`GCN` module)."""
    from ..models.gcn import GCN
    out = []
    for cin, cout, k in [(3, 2, 3), (64, 21, 15), (2048, 21, 15), (8, 8, 7), (16, 4, 1)]:
        n = sum(m.weight.numel() for m in GCN(cin, cout, k).modules() if isinstance(m, torch.nn.Conv2d))
        out.append(Case(f"c_in {cin}, c_out {cout}, k {k}", (cin, cout, k), n))
    return out


def _diagnose_gcn_params(case, got):
    cin, cout, k = case.args
    exp = case.expected
    if number_matches(got, exp / 2) and exp:
        return "It looks like one branch only: the block has two, (k x 1 then 1 x k) and (1 x k then k x 1)."
    if number_matches(got, cin * cout * k * k) and cin * cout * k * k != exp:
        return "That is a full k x k convolution; each GCN conv is k x 1 or 1 x k (k weights per channel pair)."
    if number_matches(got, 4 * k * cin * cout) and 4 * k * cin * cout != exp:
        return "The second conv of each branch maps c_out channels to c_out channels, not c_in to c_out."
    if number_matches(got, exp + 2 * cout):
        return "Count the weights only, no biases."
    if number_matches(got, 2 * k * k * (cin * cout + cout * cout)) and k > 1:
        return "Each conv is k x 1 or 1 x k: k weights per channel pair, not k x k."
    return "Add up, for each of the four convs: (input channels) x (output channels) x k."


def _check_gcn_params(fn):
    return check_function(fn, gcn_params_cases(), diagnose=_diagnose_gcn_params)


def _solution_gcn_params():
    def gcn_params(c_in, c_out, k):
        return 2 * (k * c_in * c_out + k * c_out * c_out)
    return gcn_params


EXERCISES = {
    "08.gcn_params": Exercise("the parameters of a GCN block", _check_gcn_params, _solution_gcn_params),
}
