"""Operations the lessons teach, one file each, each checked in tests against its reference."""
from .atrous import (effective_kernel_size, dilate_kernel, space_to_batch, batch_to_space, atrous_conv2d_space_to_batch, sampling_footprint, footprint_1d, footprint_stats, footprint_frame, hdc_max_gap, valid_taps, valid_tap_stats, tap_positions, aspp_tap_frame,
                     space_to_batch_paddings, RATE_PATTERNS, rate_pattern)
from .crf import (DEEPLAB_V1, COURSE_CRF, COURSE_CRF_GRID, CRFParams, dense_crf, dense_crf_exact, dense_crf_steps, mean_field_step, potts_compatibility, appearance_kernel, coarse_probs, crf_grid_search, gibbs_energy, mean_field_free_energy, unary_from_probs, message_passing, compatibility_transform, build_lattice, lattice_filter)
from .fcis import (FCISScores, assemble_inside_outside, box_iou, fcis_frame, fcis_mask_and_score, group_channels,
                   gt_score_maps, paste_masks, ps_cell, ps_channel)
from .labels import IGNORE_INDEX, block_targets, boxes_from_masks, classification_crops, semantic_to_instances, stride_oracle
from .receptive_field import (radial_profile, transposed_grid, crop_offset, fcn_crop_offsets, ConeGradient, RFRecord, conv_output_size, effective_receptive_field, mass_square_side,
                              receptive_field_frame, receptive_fields, transposed_output_size, unit_centres)
from .roi import (MultiScaleRoIAlign, fpn_levels, ps_roi_align, ps_roi_pool, quantisation_error, roi_align,
                  roi_align_sample_points, roi_pool, roi_pool_bins, roi_shift_trace, roi_views,
                  sub_pixel_boxes)
from .upsampling import (CHECKERBOARD_METHODS, checkerboard_stack, checkerboard_strength, INTERPOLATION_METHODS, bilinear_kernel, bilinear_upsampler, conv_matrix,
                         interpolation_frame, interpolation_weights, overlap_count)

__all__ = ["DEEPLAB_V1", "COURSE_CRF", "COURSE_CRF_GRID", "CRFParams", "dense_crf", "dense_crf_exact", "dense_crf_steps", "mean_field_step", "potts_compatibility", "appearance_kernel", "coarse_probs", "crf_grid_search", "gibbs_energy", "mean_field_free_energy", "unary_from_probs", "message_passing", "compatibility_transform", "build_lattice", "lattice_filter",
           "effective_kernel_size", "dilate_kernel", "space_to_batch", "batch_to_space", "atrous_conv2d_space_to_batch", "sampling_footprint", "footprint_1d", "footprint_stats", "footprint_frame", "hdc_max_gap", "valid_taps", "valid_tap_stats", "tap_positions", "aspp_tap_frame",
           "space_to_batch_paddings", "RATE_PATTERNS", "rate_pattern",
           "FCISScores", "assemble_inside_outside", "box_iou", "fcis_frame", "fcis_mask_and_score",
           "group_channels", "gt_score_maps", "paste_masks", "ps_cell", "ps_channel",
           "IGNORE_INDEX", "block_targets", "boxes_from_masks", "classification_crops", "semantic_to_instances", "stride_oracle",
           "ConeGradient", "RFRecord", "conv_output_size", "effective_receptive_field", "mass_square_side",
           "receptive_field_frame", "receptive_fields", "transposed_output_size", "unit_centres",
           "radial_profile", "transposed_grid", "crop_offset", "fcn_crop_offsets",
           "MultiScaleRoIAlign", "fpn_levels", "ps_roi_align", "ps_roi_pool", "quantisation_error", "roi_align",
           "roi_align_sample_points", "roi_pool", "roi_pool_bins", "roi_shift_trace", "roi_views", "sub_pixel_boxes",
           "CHECKERBOARD_METHODS", "checkerboard_stack", "checkerboard_strength", "INTERPOLATION_METHODS", "bilinear_kernel", "bilinear_upsampler", "conv_matrix", "interpolation_frame",
           "interpolation_weights", "overlap_count"]
