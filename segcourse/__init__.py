"""segcourse: the helper package of the segmentation course.

Lessons do ``import segcourse as sc`` and call everything from the top level. Three layers:
pure tensor code (``metrics``, ``scenes``, ``voc``, ``train``, ``models``), pictures
(``draw``: ``draw_*(..., ax=None)``) and thin widget wiring (``widgets``).
"""
import warnings as _warnings

# torch's CPU build warns, on some backward passes, that TF32 needs an Intel GPU: irrelevant on a
# CPU course, and it would land in the widgets' error areas in front of students.
_warnings.filterwarnings("ignore", message=".*TF32 acceleration on top of oneDNN.*")

from .seed import SEED, seed_everything  # noqa: E402
from .scenes import CLASSES, Scene, render_scene, generate_dataset
from .voc import (VOC_PALETTE, VOCSegmentation, coco_annotations, data_dir, load_scenes, load_split, render_scenes,
                  read_label_png, verify_manifest, write_label_png)
from .metrics import (band_accuracy, boundary_band, boundary_fscore, confusion_matrix, iou_per_class, mask_ap,
                      mask_iou, mean_iou, pixel_accuracy, segmentation_scores)
from .photos import PHOTOS, photo
from .models import TinyFCN
from .train import predict, predict_proba, train_segmentation
from .checkpoints import CHECKPOINTS, checkpoint_path, load_checkpoint, save_checkpoint
from .draw import (ERROR_COLORS, colorize, draw_confusion, draw_error_map, draw_image, draw_instances,
                   draw_labels, draw_overlay, error_map, legend_patches, overlay)
from .widgets import FigureWidget, iou_explorer, new_figure
from .exercises import check
from .instances import semantic_to_instances
from .geometry import *  # noqa: F401,F403  (lessons 01, 03: receptive fields, kernels, conv matrices)
from .fcn import *  # noqa: F401,F403  (lessons 01-04: VGG-style nets, FCN-32s/16s/8s)


def _register_lessons() -> None:
    """Import every ``segcourse.lessonNN`` module: each registers its lesson's exercises."""
    import importlib
    import pkgutil
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("lesson") and info.name[6:].isdigit():
            importlib.import_module(f"{__name__}.{info.name}")


_register_lessons()

__version__ = "0.1.0"
