"""segcourse: the helper package of the segmentation course.

Lessons do ``import segcourse as sc`` and call everything as ``sc.name``. The package has layers
(see CONTRIBUTING.md): compute (``data``, ``ops``, ``models``, ``metrics``, ``train``) under
pictures (``draw``) under thin widget wiring (``widgets``); ``exercises`` checks answers;
``checkpoints`` is the table of shipped nets. This file only imports names, explicitly.
"""
import warnings as _warnings

# torch's CPU build warns, on some backward passes, that TF32 needs an Intel GPU: irrelevant on a
# CPU course, and it would land in the widgets' error areas in front of students.
_warnings.filterwarnings("ignore", message=".*TF32 acceleration on top of oneDNN.*")

from ._paths import data_dir  # noqa: E402
from .seed import SEED, seed_everything  # noqa: E402
from .data import (CLASSES, IMAGENET_MEAN, IMAGENET_STD, NUM_CLASSES, PHOTOS, VOC_PALETTE, Scene,  # noqa: E402
                   VOCSegmentation, coco_annotations, colorize, generate_dataset, image_tensor, image_uint8, load_scenes,
                   load_split, load_scene_instances, photo, prepare_photo, read_label_png, render_scene, render_scenes, slide_heat_map,
                   slide_heat_map_rows, verify_manifest, write_label_png, instance_targets, dihedral, detection_batch, detection_val_set)
from .data import (SHAPE_CLASSES, SHAPE_GROUPS, SHAPES_A, SHAPES_B, SHAPE_RELATIVES, NUM_SHAPE_CLASSES, render_shapes_scene, shape_class_ids, shape_gallery)  # noqa: E402
from .ops import (DEEPLAB_V1, COURSE_CRF, COURSE_CRF_GRID, CRFParams, dense_crf, dense_crf_exact, dense_crf_steps, mean_field_step, potts_compatibility, appearance_kernel, coarse_probs, crf_grid_search, gibbs_energy, mean_field_free_energy, unary_from_probs, message_passing, compatibility_transform, build_lattice, lattice_filter,
                  CHECKERBOARD_METHODS, checkerboard_stack, checkerboard_strength, radial_profile, transposed_grid, crop_offset, fcn_crop_offsets, IGNORE_INDEX, INTERPOLATION_METHODS, RFRecord, bilinear_kernel, bilinear_upsampler,  # noqa: E402
                  block_targets, boxes_from_masks, classification_crops, conv_matrix, conv_output_size, effective_receptive_field,
                  interpolation_weights, mass_square_side, overlap_count, receptive_fields, semantic_to_instances,
                  stride_oracle, transposed_output_size, roi_pool, roi_align, ps_roi_pool, ps_roi_align,
                  MultiScaleRoIAlign, roi_pool_bins, roi_align_sample_points, roi_views, roi_shift_trace, quantisation_error,
                  sub_pixel_boxes, fpn_levels, dilate_kernel, space_to_batch, batch_to_space,
                  atrous_conv2d_space_to_batch, effective_kernel_size, sampling_footprint, footprint_1d,
                  footprint_stats, footprint_frame, hdc_max_gap, valid_taps, valid_tap_stats, tap_positions, aspp_tap_frame,
                  space_to_batch_paddings, RATE_PATTERNS, rate_pattern,
                  FCISScores, assemble_inside_outside, box_iou, fcis_frame, fcis_mask_and_score, group_channels,
                  gt_score_maps, paste_masks, ps_cell, ps_channel)
from .metrics import (ERROR_KINDS, error_kinds, error_kind_counts, band_accuracy, boundary_band, boundary_fscore, class_errors, confusion_matrix,  # noqa: E402
                      iou_per_class, mask_ap, mask_iou, mean_iou, pixel_accuracy, segmentation_scores,
                      SIZE_BUCKETS, instance_size_iou, coco_ap, INSTANCE_ERROR_KINDS, instance_errors,
                      greedy_match, coco_ap_from_ious, mask_ious)
from .models import (FCN, FCN_VARIANTS, HEATMAP_WIDTHS, VGG16_LAYOUT, VGG_WIDTHS, TinyFCN, VGGBackbone,  # noqa: E402
                     VGGClassifier, center_crop, conv_macs, convolutionalize, fc_as_conv, fuse_scores, heat_maps, init_from_classifier,
                     pad_for_heat_map, sliding_window, slim_vgg16_features, train_heat_map_classifier,
                     vgg16_layer_names, feature_costs, SmallBackbone, DenseMaxPool2d, atrous_vgg16, deeplab_largefov, receptive_field_table, ASPPv2, ASPP, ASPPPooling, DeepLabV3Head, aspp_branch_fields, ImagePyramidNet, EncoderDecoderNet, DeeperAtrousNet, SPPNet, SPPv2Net, with_output_stride, SCHEMES, build_scheme,
                     GCN, BoundaryRefinement, GCNNet, gcn_kernel, kernel_rank, gcn_costs, LargeKernelNet,
                     large_kernel_head, score_erf, kernel_footprints, expected_energy,
                     FCIS, fcis_loss, fcis_predict, init_from_fcn, instance_boxes, mask_targets, sample_rois, train_fcis,
                     MASK_RCNN_CONFIG, build_mask_rcnn, train_mask_rcnn, iteration_seconds, detect, evaluate_mask_rcnn, detection_scores, paste_mask_like_torchvision, mask_rcnn_stages, detection_candidates, filter_detections, mask_rcnn_shapes, match_detections, threshold_frame, threshold_context, mask_rcnn_losses_by_hand, set_roi_op)
from .train import fit, predict, predict_proba, train_segmentation  # noqa: E402
from .checkpoints import (CHECKPOINTS, checkpoint_metric, checkpoint_path, load_checkpoint, save_checkpoint,  # noqa: E402
                          scheme_study_results, scheme_val_set, size_scores, large_kernel_study_results,
                          roi_study_results, build_study_net, fcn_classifier_crops, fcn_study_results, FCN_EPOCHS)
from .draw import (draw_fcis_head, draw_ps_tiles, draw_roi_grid, draw_score_map, grid_segments, tile_mosaic,  # noqa: E402
                   draw_fcn_architecture, draw_learning_curves, fcn_tensor_sizes, draw_crf_kernel, draw_crf_steps, draw_free_energy, draw_sampling_footprint, draw_valid_taps, draw_aspp_taps, draw_aspp_footprint, draw_context_schemes, draw_gcn_impulse, draw_kernel_footprints, draw_gcn_pipeline, footprint_overlay, draw_pooled, draw_roi_align_samples, draw_roi_bins, CLASS_ERROR_COLORS, class_error_map, draw_class_errors, ERROR_COLORS, draw_confusion, draw_error_map, draw_image, draw_instances, draw_labels,  # noqa: E402
                   draw_overlay, error_map, legend_patches, overlay, draw_mask_rcnn_architecture, detection_colours, draw_boxes, draw_anchors, draw_objectness, draw_detections, draw_ranked_detections)
from .widgets import (FigureWidget, interpolation_explorer, iou_explorer, new_figure,  # noqa: E402
                      receptive_field_explorer, footprint_explorer, aspp_explorer, crf_explorer, roi_explorer, fcis_explorer,
                      kernel_explorer, detection_explorer, transfer_explorer)
from .models import (LSE_HEADS, LSE_VARIANTS, LSE_SOURCES, LSE_TRAIN_SEED, LSE_VAL_SEED, WeightTransfer, TransferMaskPredictor, detection_weights, partial_mask_loss, LSERoIHeads, build_lse_mask_rcnn, lse_batch, lse_val_set, train_lse, detect_lse, evaluate_lse, swapped_transfer, probe_mappings, transfer_mask_frame, head_masks_on_gt_boxes, gt_box_mask_iou)  # noqa: E402
from .checkpoints import LSE_ITERATIONS, LSE_VAL_SCENES, lse_study_results  # noqa: E402
from .draw import draw_shape_family, draw_mask_prob, draw_head_masks, draw_lse_diagram  # noqa: E402
from .exercises import check, solution  # noqa: E402

__all__ = [
    "data_dir", "SEED", "seed_everything",
    # data
    "CLASSES", "IMAGENET_MEAN", "IMAGENET_STD", "NUM_CLASSES", "PHOTOS", "VOC_PALETTE", "Scene", "VOCSegmentation",
    "coco_annotations", "colorize", "generate_dataset", "image_tensor", "image_uint8", "load_scenes", "load_scene_instances", "load_split", "photo",
    "prepare_photo", "read_label_png", "render_scene", "render_scenes", "slide_heat_map", "slide_heat_map_rows",
    "verify_manifest", "write_label_png", "instance_targets", "dihedral", "detection_batch", "detection_val_set",
    "SHAPE_CLASSES", "SHAPE_GROUPS", "SHAPES_A", "SHAPES_B", "SHAPE_RELATIVES", "NUM_SHAPE_CLASSES", "render_shapes_scene", "shape_class_ids", "shape_gallery",
    # ops
    "DEEPLAB_V1", "COURSE_CRF", "COURSE_CRF_GRID", "CRFParams", "dense_crf", "dense_crf_exact", "dense_crf_steps", "mean_field_step", "potts_compatibility", "appearance_kernel", "coarse_probs", "crf_grid_search", "gibbs_energy", "mean_field_free_energy", "unary_from_probs", "message_passing", "compatibility_transform", "build_lattice", "lattice_filter",
    "CHECKERBOARD_METHODS", "checkerboard_stack", "checkerboard_strength", "radial_profile", "transposed_grid", "crop_offset", "fcn_crop_offsets", "IGNORE_INDEX", "INTERPOLATION_METHODS", "RFRecord", "bilinear_kernel", "bilinear_upsampler", "block_targets", "classification_crops",
    "boxes_from_masks", "conv_matrix", "conv_output_size", "effective_receptive_field", "interpolation_weights",
    "mass_square_side", "overlap_count", "receptive_fields", "semantic_to_instances", "stride_oracle",
    "transposed_output_size", "roi_pool", "roi_align", "ps_roi_pool", "ps_roi_align", "MultiScaleRoIAlign",
    "roi_pool_bins", "roi_align_sample_points", "roi_views", "roi_shift_trace", "quantisation_error", "sub_pixel_boxes",
    "fpn_levels", "dilate_kernel", "space_to_batch", "batch_to_space", "atrous_conv2d_space_to_batch",
    "effective_kernel_size", "sampling_footprint", "footprint_1d", "footprint_stats", "footprint_frame",
    "hdc_max_gap", "valid_taps", "valid_tap_stats", "tap_positions", "aspp_tap_frame", "space_to_batch_paddings", "RATE_PATTERNS",
    "rate_pattern",
    "FCISScores", "assemble_inside_outside", "box_iou", "fcis_frame", "fcis_mask_and_score", "group_channels",
    "gt_score_maps", "paste_masks", "ps_cell", "ps_channel",
    # metrics
    "ERROR_KINDS", "error_kinds", "error_kind_counts", "band_accuracy", "boundary_band", "boundary_fscore", "class_errors", "confusion_matrix", "iou_per_class",
    "mask_ap", "mask_iou", "mean_iou", "pixel_accuracy", "segmentation_scores", "SIZE_BUCKETS",
    "instance_size_iou", "coco_ap", "INSTANCE_ERROR_KINDS", "instance_errors", "greedy_match", "coco_ap_from_ious", "mask_ious",
    # models and training
    "FCN", "FCN_VARIANTS", "HEATMAP_WIDTHS", "VGG16_LAYOUT", "VGG_WIDTHS", "TinyFCN", "VGGBackbone",
    "VGGClassifier", "center_crop", "conv_macs", "convolutionalize", "fc_as_conv", "fuse_scores", "heat_maps",
    "init_from_classifier", "pad_for_heat_map", "sliding_window", "slim_vgg16_features", "train_heat_map_classifier",
    "vgg16_layer_names", "feature_costs", "SmallBackbone", "DenseMaxPool2d", "atrous_vgg16", "deeplab_largefov", "receptive_field_table", "ASPPv2", "ASPP", "ASPPPooling", "DeepLabV3Head", "aspp_branch_fields", "ImagePyramidNet", "EncoderDecoderNet", "DeeperAtrousNet", "SPPNet", "SPPv2Net", "with_output_stride", "SCHEMES", "build_scheme", "GCN", "BoundaryRefinement", "GCNNet", "gcn_kernel", "kernel_rank", "gcn_costs", "LargeKernelNet", "large_kernel_head", "score_erf", "kernel_footprints", "expected_energy",
    "FCIS", "fcis_loss", "fcis_predict", "init_from_fcn", "instance_boxes", "mask_targets", "sample_rois",
    "train_fcis", "MASK_RCNN_CONFIG", "build_mask_rcnn", "train_mask_rcnn", "iteration_seconds", "detect", "evaluate_mask_rcnn", "detection_scores", "paste_mask_like_torchvision", "mask_rcnn_stages", "detection_candidates", "filter_detections", "mask_rcnn_shapes", "match_detections", "threshold_frame", "threshold_context", "mask_rcnn_losses_by_hand", "set_roi_op",
    "fit", "predict", "predict_proba", "train_segmentation",
    # checkpoints
    "CHECKPOINTS", "checkpoint_path", "checkpoint_metric", "load_checkpoint", "save_checkpoint", "scheme_study_results", "large_kernel_study_results", "scheme_val_set", "size_scores",
    "roi_study_results", "build_study_net", "fcn_classifier_crops", "fcn_study_results", "FCN_EPOCHS",
    "LSE_HEADS", "LSE_VARIANTS", "LSE_SOURCES", "LSE_TRAIN_SEED", "LSE_VAL_SEED", "WeightTransfer", "TransferMaskPredictor", "detection_weights", "partial_mask_loss", "LSERoIHeads", "build_lse_mask_rcnn", "lse_batch", "lse_val_set", "train_lse", "detect_lse", "evaluate_lse", "swapped_transfer", "probe_mappings", "transfer_mask_frame", "head_masks_on_gt_boxes", "gt_box_mask_iou",
    "LSE_ITERATIONS", "LSE_VAL_SCENES", "lse_study_results",
    # pictures and widgets
    "draw_fcis_head", "draw_ps_tiles", "draw_roi_grid", "draw_score_map", "grid_segments", "tile_mosaic",
    "draw_fcn_architecture", "draw_learning_curves", "fcn_tensor_sizes", "draw_crf_kernel", "draw_crf_steps", "draw_free_energy", "draw_sampling_footprint", "draw_valid_taps", "draw_aspp_taps", "draw_aspp_footprint", "draw_context_schemes", "draw_gcn_impulse", "draw_kernel_footprints", "draw_gcn_pipeline", "footprint_overlay", "draw_pooled", "draw_roi_align_samples", "draw_roi_bins", "CLASS_ERROR_COLORS", "class_error_map", "draw_class_errors", "ERROR_COLORS", "draw_confusion", "draw_error_map", "draw_image", "draw_instances", "draw_labels",
    "draw_overlay", "error_map", "legend_patches", "overlay", "FigureWidget", "interpolation_explorer",
    "iou_explorer", "new_figure", "receptive_field_explorer", "footprint_explorer", "aspp_explorer", "crf_explorer", "roi_explorer", "fcis_explorer", "kernel_explorer", "detection_explorer",
    "draw_mask_rcnn_architecture", "detection_colours", "draw_boxes", "draw_anchors", "draw_objectness", "draw_detections", "draw_ranked_detections",
    "draw_shape_family", "draw_mask_prob", "draw_head_masks", "draw_lse_diagram", "transfer_explorer",
    # exercises
    "check", "solution",
]

__version__ = "0.1.0"
