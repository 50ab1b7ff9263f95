"""Pictures: ``draw_*(..., ax=None)`` functions (one file per topic) over pure array code."""
from .segmentation import (ERROR_COLORS, draw_confusion, draw_error_map, draw_image, draw_instances, draw_labels,
                           draw_overlay, error_map, legend_patches, overlay)

__all__ = ["ERROR_COLORS", "draw_confusion", "draw_error_map", "draw_image", "draw_instances", "draw_labels",
           "draw_overlay", "error_map", "legend_patches", "overlay"]
