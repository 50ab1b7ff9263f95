"""Pictures: ``draw_*(..., ax=None)`` functions (one file per topic) over pure array code."""
from .atrous import (draw_sampling_footprint, draw_valid_taps, draw_aspp_taps, draw_aspp_footprint, draw_context_schemes, draw_gcn_impulse, footprint_overlay,
                     draw_kernel_footprints, update_kernel_footprints, draw_gcn_pipeline)
from .fcn import draw_fcn_architecture, draw_learning_curves, fcn_tensor_sizes
from .crf import (draw_crf_kernel, draw_crf_steps, draw_free_energy)
from .fcis import draw_fcis_head, draw_ps_tiles, draw_roi_grid, draw_score_map, grid_segments, tile_mosaic
from .mask_rcnn import (draw_mask_rcnn_architecture, draw_boxes, draw_anchors, draw_objectness, draw_detections, draw_ranked_detections, update_detections, update_ranked_detections, detection_colours, DETECTION_COLOURS)
from .roi import draw_pooled, draw_roi_align_samples, draw_roi_bins
from .lse import draw_head_masks, draw_lse_diagram, draw_mask_prob, draw_shape_family
from .segmentation import (CLASS_ERROR_COLORS, class_error_map, draw_class_errors, ERROR_COLORS, draw_confusion, draw_error_map, draw_image, draw_instances, draw_labels,
                           draw_overlay, error_map, legend_patches, overlay)

__all__ = ["draw_fcn_architecture", "draw_learning_curves", "fcn_tensor_sizes", "draw_crf_kernel", "draw_crf_steps", "draw_free_energy",
           "draw_sampling_footprint", "draw_valid_taps", "draw_aspp_taps", "draw_aspp_footprint", "draw_context_schemes", "draw_gcn_impulse", "footprint_overlay", "draw_kernel_footprints", "update_kernel_footprints", "draw_gcn_pipeline",
           "draw_fcis_head", "draw_ps_tiles", "draw_roi_grid", "draw_score_map", "grid_segments", "tile_mosaic",
           "draw_pooled", "draw_roi_align_samples", "draw_roi_bins", "CLASS_ERROR_COLORS", "class_error_map", "draw_class_errors", "ERROR_COLORS", "draw_confusion", "draw_error_map", "draw_image", "draw_instances", "draw_labels",
           "draw_overlay", "error_map", "legend_patches", "overlay",
           "draw_mask_rcnn_architecture", "draw_boxes", "draw_anchors", "draw_objectness", "draw_detections", "draw_ranked_detections", "update_detections", "update_ranked_detections", "detection_colours", "DETECTION_COLOURS",
           "draw_shape_family", "draw_mask_prob", "draw_head_masks", "draw_lse_diagram"]
