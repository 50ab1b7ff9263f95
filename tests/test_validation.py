"""Bad input to public segcourse functions gives a ValueError/TypeError that names the argument.

hypothesis draws many malformed inputs; each must be refused loudly, never answered silently.
"""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segcourse as sc
from segcourse._validate import as_tensor, check_shape

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = st.lists(st.integers(1, 5), min_size=0, max_size=5).map(tuple)


@SETTINGS
@given(shape=shapes)
def test_colorize_wants_2d_integer_maps(shape):
    x = np.zeros(shape, np.int64)
    if len(shape) == 2:
        assert sc.colorize(x).shape == shape + (3,)
    else:
        with pytest.raises(ValueError, match="labels"):
            sc.colorize(x)


@SETTINGS
@given(value=st.one_of(st.integers(256, 10_000), st.integers(-10_000, -1)))
def test_colorize_rejects_out_of_range_labels(value):
    with pytest.raises(ValueError, match="labels"):
        sc.colorize(np.full((2, 2), value))


@SETTINGS
@given(bad=st.sampled_from([None, "mask", [[0, 1]], 3.0, np.array([["a"]])]))
def test_non_arrays_are_type_errors(bad):
    with pytest.raises(TypeError, match="labels"):
        sc.colorize(bad)


@SETTINGS
@given(h=st.integers(1, 6), w=st.integers(1, 6), dh=st.integers(-2, 2), dw=st.integers(-2, 2))
def test_error_map_needs_equal_shapes(h, w, dh, dw):
    a = np.zeros((h, w), bool)
    b = np.zeros((max(h + dh, 1), max(w + dw, 1)), bool)
    if a.shape == b.shape:
        assert sc.error_map(a, b).shape == (h, w, 3)
    else:
        with pytest.raises(ValueError, match="target: expected shape"):
            sc.error_map(a, b)


@SETTINGS
@given(shape=shapes, dtype=st.sampled_from([torch.float32, torch.int64, torch.uint8]))
def test_tiny_fcn_refuses_anything_but_float_nchw(shape, dtype):
    net = sc.TinyFCN(num_classes=2, width=2)
    x = torch.zeros(shape, dtype=dtype)
    ok = dtype == torch.float32 and len(shape) == 4 and shape[1] == 3 and shape[2] % 8 == 0 \
        and shape[3] % 8 == 0
    if ok:
        assert net(x).shape == (shape[0], 2, shape[2], shape[3])
    else:
        with pytest.raises((ValueError, TypeError), match="images"):
            net(x)


@SETTINGS
@given(n=st.integers(1, 4), m=st.integers(1, 4))
def test_train_needs_one_mask_per_image(n, m):
    images, masks = torch.zeros(n, 3, 8, 8), torch.zeros(m, 8, 8, dtype=torch.long)
    if n != m:
        with pytest.raises(ValueError, match="masks"):
            sc.train_segmentation(sc.TinyFCN(2, 2), images, masks, epochs=1, progress=False)


@SETTINGS
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_nan_is_refused(bad):
    x = torch.zeros(1, 3, 8, 8)
    x[0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match="images"):
        sc.predict(sc.TinyFCN(2, 2), x)


@SETTINGS
@given(min_area=st.one_of(st.integers(-5, 0), st.floats(0.5, 3)))
def test_semantic_to_instances_checks_min_area(min_area):
    with pytest.raises((ValueError, TypeError), match="min_area"):
        sc.semantic_to_instances(np.zeros((3, 3), np.int64), min_area=min_area)


def test_check_shape_binds_letters():
    assert check_shape((3, 3), "conf", ("C", "C")) == {"C": 3}
    with pytest.raises(ValueError, match=r"conf: expected shape \(C, C\) with equal 'C'"):
        check_shape((3, 4), "conf", ("C", "C"))
    with pytest.raises(ValueError, match=r"boxes: expected shape \(N, 4\), got \(2, 5\)"):
        as_tensor(torch.zeros(2, 5), "boxes", shape=("N", 4))
