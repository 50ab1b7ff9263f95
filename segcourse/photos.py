"""Real photographs, from scikit-image's bundled samples (no download: they ship in the wheel)."""
from __future__ import annotations

import numpy as np

from ._validate import check_choice

__all__ = ["PHOTOS", "photo"]

#: Photos bundled with scikit-image that need no network ("local" files in its registry).
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")

_LOADERS = {
    "chelsea": "chelsea",      # Stefan van der Walt's cat, 300 x 451
    "coffee": "coffee",        # a cup of coffee, 400 x 600
    "astronaut": "astronaut",  # Eileen Collins, 512 x 512
    "rocket": "rocket",        # a rocket launch, 427 x 640
}


def photo(name: str = "chelsea", *, as_tensor: bool = False):
    """A bundled photograph.

    Returns an (H, W, 3) uint8 array, or with ``as_tensor=True`` a (3, H, W) float32 tensor in
    [0, 1] (the layout torch models expect).
    """
    check_choice(name, "name", tuple(_LOADERS))
    import skimage.data

    img = np.asarray(getattr(skimage.data, _LOADERS[name])())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = np.ascontiguousarray(img[..., :3])
    if as_tensor:
        from .voc import image_tensor
        return image_tensor(img)
    return img
