"""Input validation shared by every public segcourse function.

Each helper raises ``TypeError`` for the wrong kind of object or dtype and ``ValueError`` for the
wrong shape or range, and its message names the argument and what was expected, e.g.::

    ValueError: mask: expected shape (H, W), got (3, 64, 64)

Shapes are written with letters for free dimensions and integers for fixed ones:
``as_tensor(x, "boxes", shape=("N", 4))``. A letter used twice must match itself.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["as_tensor", "as_array", "check_shape", "check_int", "check_float", "check_choice"]

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)


def _fmt_shape(shape: Sequence) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_shape(actual: Sequence[int], name: str, shape: Sequence[int | str | None]) -> dict:
    """Check ``actual`` against a pattern; ``None`` or a letter is free, ints are fixed.

    Returns the bindings of letters to sizes, so callers can relate two arguments.
    """
    actual = tuple(int(s) for s in actual)
    if len(actual) != len(shape):
        raise ValueError(f"{name}: expected shape {_fmt_shape(shape)}, got {_fmt_shape(actual)}")
    bound: dict = {}
    for want, got in zip(shape, actual):
        if want is None:
            continue
        if isinstance(want, str):
            if want in bound and bound[want] != got:
                raise ValueError(
                    f"{name}: expected shape {_fmt_shape(shape)} with equal '{want}' sizes, "
                    f"got {_fmt_shape(actual)}")
            bound[want] = got
        elif want != got:
            raise ValueError(f"{name}: expected shape {_fmt_shape(shape)}, got {_fmt_shape(actual)}")
    return bound


def as_tensor(x, name: str, *, shape: Sequence | None = None, ndim: int | tuple[int, ...] | None = None,
              kind: str | None = None, min_value: float | None = None, max_value: float | None = None,
              allow_empty: bool = True) -> torch.Tensor:
    """Return ``x`` as a torch tensor (numpy arrays are converted without copy), checking it.

    kind: ``"float"`` (floating dtype), ``"int"`` (integer or bool dtype) or None (any numeric).
    A check that fails raises TypeError (not array-like, wrong dtype) or ValueError (shape, range,
    NaN), naming ``name``.
    """
    if isinstance(x, np.ndarray):
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise TypeError(f"{name}: expected a numeric array, got numpy dtype {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        t = x
    else:
        raise TypeError(f"{name}: expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if t.is_complex():
        raise TypeError(f"{name}: expected a real tensor, got dtype {t.dtype}")
    if kind == "float" and t.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {t.dtype}")
    if kind == "int" and t.dtype not in _INT_DTYPES:
        raise TypeError(f"{name}: expected an integer tensor, got dtype {t.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name}: expected a {want} tensor, got shape {_fmt_shape(t.shape)}")
    if shape is not None:
        check_shape(t.shape, name, shape)
    if not allow_empty and t.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty tensor, got shape {_fmt_shape(t.shape)}")
    if t.numel() and t.dtype in _FLOAT_DTYPES and not torch.isfinite(t).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    if t.numel() and min_value is not None and t.min().item() < min_value:
        raise ValueError(f"{name}: expected values >= {min_value}, got minimum {t.min().item()}")
    if t.numel() and max_value is not None and t.max().item() > max_value:
        raise ValueError(f"{name}: expected values <= {max_value}, got maximum {t.max().item()}")
    return t


def as_array(x, name: str, **kwargs) -> np.ndarray:
    """Like :func:`as_tensor` but returns a numpy array (same checks, same messages)."""
    return as_tensor(x, name, **kwargs).detach().cpu().numpy()


def check_int(x, name: str, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Return ``x`` as a Python int; bool and non-integral values raise TypeError."""
    if isinstance(x, bool) or not isinstance(x, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(x).__name__}")
    x = int(x)
    if min_value is not None and x < min_value:
        raise ValueError(f"{name}: expected an int >= {min_value}, got {x}")
    if max_value is not None and x > max_value:
        raise ValueError(f"{name}: expected an int <= {max_value}, got {x}")
    return x


def check_float(x, name: str, *, min_value: float | None = None, max_value: float | None = None) -> float:
    """Return ``x`` as a finite Python float."""
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a number, got {type(x).__name__}")
    x = float(x)
    if not np.isfinite(x):
        raise ValueError(f"{name}: expected a finite number, got {x}")
    if min_value is not None and x < min_value:
        raise ValueError(f"{name}: expected a number >= {min_value}, got {x}")
    if max_value is not None and x > max_value:
        raise ValueError(f"{name}: expected a number <= {max_value}, got {x}")
    return x


def check_choice(x, name: str, choices: Sequence):
    """Return ``x`` if it is one of ``choices``, else ValueError listing them."""
    if x not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {x!r}")
    return x


def check_images(x, name: str = "images", **kwargs) -> torch.Tensor:
    """The one check of an image batch: (N, 3, H, W) float (any keyword of :func:`as_tensor` may
    add bounds, e.g. ``min_value=0, max_value=1``). Returns the tensor."""
    return as_tensor(x, name, shape=("N", 3, "H", "W"), kind="float", **kwargs)
