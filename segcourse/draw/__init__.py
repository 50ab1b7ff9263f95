"""Pictures: ``draw_*(..., ax=None)`` functions (one file per topic) over pure array code."""
from .atrous import (draw_sampling_footprint, draw_valid_taps, draw_aspp_taps, draw_aspp_footprint, draw_context_schemes, draw_gcn_impulse, footprint_overlay)
from .crf import (draw_crf_kernel, draw_crf_steps, draw_free_energy)
from .roi import draw_pooled, draw_roi_align_samples, draw_roi_bins
from .segmentation import (ERROR_COLORS, draw_confusion, draw_error_map, draw_image, draw_instances, draw_labels,
                           draw_overlay, error_map, legend_patches, overlay)

__all__ = ["draw_crf_kernel", "draw_crf_steps", "draw_free_energy",
           "draw_sampling_footprint", "draw_valid_taps", "draw_aspp_taps", "draw_aspp_footprint", "draw_context_schemes", "draw_gcn_impulse", "footprint_overlay",
           "draw_pooled", "draw_roi_align_samples", "draw_roi_bins", "ERROR_COLORS", "draw_confusion", "draw_error_map", "draw_image", "draw_instances", "draw_labels",
           "draw_overlay", "error_map", "legend_patches", "overlay"]
