"""Images: real photographs (scikit-image's bundled samples, no download), image <-> tensor, the
ImageNet normalisation, and the crops and patches the lessons cut from photos."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import as_tensor, check_choice, check_int

__all__ = ["PHOTOS", "photo", "image_tensor", "image_uint8", "IMAGENET_MEAN", "IMAGENET_STD", "imagenet_normalize",
           "prepare_photo", "grey_patch"]

#: Photos bundled with scikit-image that need no network (their files ship in the wheel):
#: chelsea (Stefan van der Walt's cat, 300 x 451), coffee (400 x 600), astronaut (Eileen Collins,
#: 512 x 512), rocket (a launch, 427 x 640).
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
#: ImageNet's per-channel mean and standard deviation (RGB), as torchvision's models expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 in [0, 1], the layout every course model takes."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0


def image_uint8(image) -> np.ndarray:
    """(3, H, W) float in [0, 1] (tensor or array) -> (H, W, 3) uint8 RGB: the inverse of
    :func:`image_tensor` (rounded), the layout photos and pydensecrf use."""
    x = as_tensor(image, "image", shape=(3, None, None), kind="float", min_value=0.0, max_value=1.0)
    return np.ascontiguousarray((x.permute(1, 2, 0) * 255.0).round().to(torch.uint8).numpy())


def imagenet_normalize(images: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) float in [0, 1] -> normalised with :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`."""
    x = as_tensor(images, "images", ndim=(3, 4), kind="float")
    if x.shape[-3] != 3:
        raise ValueError(f"images: expected shape (3, H, W) or (N, 3, H, W), got {tuple(x.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype)[:, None, None]
    return (x - mean) / std


def photo(name: str = "chelsea", *, as_tensor: bool = False):
    """A bundled photograph.

    Returns an (H, W, 3) uint8 array, or with ``as_tensor=True`` a (3, H, W) float32 tensor in
    [0, 1] (the layout torch models expect).
    """
    check_choice(name, "name", PHOTOS)
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = np.ascontiguousarray(img[..., :3])
    if as_tensor:
        return image_tensor(img)
    return img


def prepare_photo(image, size: int = 224) -> torch.Tensor:
    """Centre-crop an (H, W, 3) uint8 photo (or (3, H, W) float in [0, 1]) to a square and resize
    it to ``size`` x ``size`` (antialiased bilinear): returns (3, size, size) float in [0, 1]."""
    size = check_int(size, "size", min_value=8, max_value=1024)
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[-1] == 3:
        x = image_tensor(image)
    else:
        x = as_tensor(image, "image", shape=(3, None, None), kind="float", min_value=0, max_value=1)
    h, w = x.shape[1:]
    s = min(h, w)
    x = x[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    return x.clamp(0, 1)


def grey_patch(image, patch: int = 6) -> np.ndarray:
    """A ``patch x patch`` grey patch of a photo, block-averaged, from a third of the way down and
    across (on chelsea: the cat's eye). image: (H, W, 3) uint8 or float in [0, 1].
    Returns (patch, patch) float64 in [0, 1]."""
    patch = check_int(patch, "patch", min_value=2, max_value=12)
    img = np.asarray(as_tensor(image, "image", ndim=3).numpy(), np.float64)
    if img.shape[-1] != 3:
        raise ValueError(f"image: expected shape (H, W, 3), got {img.shape}")
    gray = img.mean(-1) / (255.0 if img.max() > 1 else 1.0)
    block = max(1, min(gray.shape) // (6 * patch))
    y0 = min(gray.shape[0] // 3, gray.shape[0] - patch * block)
    x0 = min(gray.shape[1] // 3, gray.shape[1] - patch * block)
    src = gray[y0:y0 + patch * block, x0:x0 + patch * block]
    return src.reshape(patch, block, patch, block).mean((1, 3))
