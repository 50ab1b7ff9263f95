"""Lesson 08's exercises: the parameters of a GCN block, the rank of its kernel, the parameters of a
stack of 3 x 3 convolutions with the same field."""
from __future__ import annotations

import numpy as np
import torch

from .checking import Case, Exercise, as_number, check_function, number_matches

__all__ = ["EXERCISES", "gcn_params_cases", "rank_bound_cases", "stack_params_cases"]


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




# -- 08.rank_bound ---------------------------------------------------------------------------------

def rank_bound_cases() -> list[Case]:
    """``rank_bound(k, mid)``: the largest rank a GCN block's k x k kernel can have for one channel
    pair, with ``mid`` intermediate channels; expected values are the rank of random blocks
    (:func:`segcourse.models.gcn.kernel_rank` of :func:`gcn_kernel`, which is generically the bound)."""
    from ..models.gcn import GCN, gcn_kernel, kernel_rank
    out = []
    for k, mid in [(15, 1), (15, 3), (15, 21), (7, 2), (7, 4), (3, 1), (21, 10)]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(k * 100 + mid)
            block = GCN(1, 1, k, mid_channels=mid)
        r = int(kernel_rank(gcn_kernel(block)[0].detach()[0, 0].double(), rtol=1e-5))
        out.append(Case(f"k {k}, mid {mid}", (k, mid), r))
    return out


def _diagnose_rank_bound(case, got):
    k, mid = case.args
    if number_matches(got, 2) and case.expected != 2:
        return ("Rank <= 2 holds only with one intermediate channel: each intermediate channel of each "
                "branch adds one separable (column x row) term.")
    if number_matches(got, 2 * mid) and 2 * mid > k:
        return "A k x k matrix cannot have rank above k."
    if number_matches(got, mid) and mid != case.expected:
        return "There are two branches, each adding one separable term per intermediate channel."
    if number_matches(got, k) and k != case.expected:
        return "With few intermediate channels the kernel is a sum of only a few separable terms."
    return "Count the separable (rank-1) terms the kernel is a sum of, then remember a k x k matrix's rank is at most k."


def _check_rank_bound(fn):
    return check_function(fn, rank_bound_cases(), diagnose=_diagnose_rank_bound)


def _solution_rank_bound():
    def rank_bound(k, mid):
        return min(2 * mid, k)
    return rank_bound


# -- 08.stack_params -------------------------------------------------------------------------------

def stack_params_cases() -> list[Case]:
    """``stack_params(c_in, c_out, k)``: weights (no biases) of the stack of 3 x 3 convolutions with
    a k x k field that ``gcn_costs`` compares (c_in -> c_out, then c_out -> c_out), counted from
    ``segcourse.models.gcn.large_kernel_head("stack", ...)``."""
    from ..models.gcn import large_kernel_head
    out = []
    for cin, cout, k in [(64, 6, 15), (2048, 21, 15), (8, 8, 7), (5, 3, 3), (16, 4, 11)]:
        head = large_kernel_head("stack", cin, cout, k)
        n = sum(m.weight.numel() for m in head.modules() if isinstance(m, torch.nn.Conv2d))
        out.append(Case(f"c_in {cin}, c_out {cout}, k {k}", (cin, cout, k), n))
    return out


def _diagnose_stack_params(case, got):
    cin, cout, k = case.args
    n3 = (k - 1) // 2
    if number_matches(got, 9 * cin * cout * n3) and n3 > 1:
        return "Only the first 3 x 3 conv sees c_in channels; the others map c_out to c_out."
    if number_matches(got, 9 * (cin * cout + (k - 1) * cout * cout)) or number_matches(got, 9 * (cin * cout + (k - 2) * cout * cout)):
        return "How many 3 x 3 layers give a k x k field? Each adds 2 pixels to the field."
    if number_matches(got, case.expected + n3 * cout):
        return "Count the weights only, no biases."
    if number_matches(got, 9 * cout * cout * n3) and cin != cout:
        return "The first conv maps c_in channels to c_out."
    return "Find the number of 3 x 3 layers for a k x k field, then add up (in) x (out) x 9 per layer."


def _check_stack_params(fn):
    return check_function(fn, stack_params_cases(), diagnose=_diagnose_stack_params)


def _solution_stack_params():
    def stack_params(c_in, c_out, k):
        n = (k - 1) // 2                   # each 3 x 3 layer widens the field by 2
        return 9 * (c_in * c_out + (n - 1) * c_out * c_out)
    return stack_params


EXERCISES = {
    "08.gcn_params": Exercise("the parameters of a GCN block", _check_gcn_params, _solution_gcn_params),
    "08.rank_bound": Exercise("the rank of a GCN block's kernel", _check_rank_bound, _solution_rank_bound),
    "08.stack_params": Exercise("the parameters of a stack of 3 x 3 convolutions", _check_stack_params,
                                _solution_stack_params),
}
