"""Lesson 02's exercises: the heat map's size, the classifier's crop size."""
from __future__ import annotations

import numpy as np

from ..models.heat_map import VGGClassifier
from ..ops.receptive_field import conv_output_size
from .checking import Exercise, Case, check_function, check_value

__all__ = ["heat_map_side_cases"]

# -- exercise 2: heat-map size -------------------------------------------------------------------

def heat_map_side_cases() -> list:
    """Cases for ``heat_map_side(input_side, crop_size, stride)``: a crop classifier sliding over
    the input without padding has as many positions as a convolution with kernel = crop size."""
    args = [(340, 244, 32), (244, 244, 32), (275, 244, 32), (276, 244, 32), (500, 224, 32), (13, 5, 2)]
    return [Case(f"input {a}, crop {b}, stride {c}", (a, b, c), conv_output_size(a, b, c)) for a, b, c in args]


def _check_heat_map_side(fn):
    return check_function(fn, heat_map_side_cases())


# -- exercise 3: the classifier's crop size ------------------------------------------------------

def _check_crop_size(answer):
    return check_value(answer, VGGClassifier().crop_size, what="crop side in pixels",
                       hint="Hint: start from fc6's 2x2 window at pool5 and walk back: a 2x2 pool "
                            "doubles the side, an unpadded 3x3 conv adds 2.")


def _solution_crop_size():
    # walk back from pool5 = 2: each block undoes its pool (x2), then its n unpadded convs (+2n)
    side = 2
    for n_convs in reversed((2, 2, 3, 3, 3)):
        side = 2 * side + 2 * n_convs
    return side


def _solution_heat_map_side():
    def heat_map_side(input_side, crop_size, stride):
        # the first crop starts at 0; another fits every `stride` pixels while it stays inside
        return (input_side - crop_size) // stride + 1
    return heat_map_side


#: This lesson's exercises: key -> Exercise(title, checker, solution).
EXERCISES = {
    "02.heat_map_side": Exercise("how many heat-map cells fit along one side", _check_heat_map_side, _solution_heat_map_side),
    "02.crop_size": Exercise("crop side of the unpadded VGG-16-shaped classifier", _check_crop_size, _solution_crop_size),
}
