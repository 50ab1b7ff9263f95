"""Models, one file per family; a piece only one model uses stays in that model's file."""
from .common import DenseMaxPool2d, SmallBackbone, conv_macs, feature_costs
from .deeplab import (atrous_vgg16, deeplab_largefov, receptive_field_table, ASPPv2, ASPP, ASPPPooling, DeepLabV3Head, aspp_branch_fields, ImagePyramidNet, EncoderDecoderNet, DeeperAtrousNet, SPPNet, SPPv2Net, with_output_stride, SCHEMES, build_scheme)
from .gcn import (GCN, BoundaryRefinement, GCNNet, gcn_kernel, kernel_rank, gcn_costs, LargeKernelNet, large_kernel_head,
                  score_erf, kernel_footprints, expected_energy, MAX_FOOTPRINT_K)
from .fcis import FCIS, fcis_loss, fcis_predict, init_from_fcn, instance_boxes, mask_targets, sample_rois, train_fcis
from .fcn import FCN, FCN_VARIANTS, center_crop, fuse_scores, init_from_classifier
from .heat_map import VGGClassifier, heat_maps, pad_for_heat_map, sliding_window, train_heat_map_classifier
from .lse import (LSE_HEADS, LSE_VARIANTS, LSE_SOURCES, LSE_TRAIN_SEED, LSE_VAL_SEED, WeightTransfer, TransferMaskPredictor, detection_weights, partial_mask_loss, LSERoIHeads, build_lse_mask_rcnn, lse_batch, lse_val_set, train_lse, detect_lse, evaluate_lse, swapped_transfer, probe_mappings, transfer_mask_frame, head_masks_on_gt_boxes, gt_box_mask_iou)
from .tiny_fcn import TinyFCN
from .mask_rcnn import (MASK_RCNN_CONFIG, FPNBackbone, build_mask_rcnn, roi_extractor, set_roi_op, train_mask_rcnn, iteration_seconds, detect, evaluate_mask_rcnn, detection_scores, paste_mask_like_torchvision, mask_rcnn_stages, detection_candidates, filter_detections, mask_rcnn_shapes, match_detections, threshold_frame, threshold_context, mask_rcnn_losses_by_hand)
from .vgg import (HEATMAP_WIDTHS, VGG16_LAYOUT, VGG16_WIDTHS, VGG_WIDTHS, VGGBackbone, convolutionalize, fc_as_conv,
                  slim_vgg16_features, vgg16_layer_names)

__all__ = ["feature_costs", "SmallBackbone", "DenseMaxPool2d", "atrous_vgg16", "deeplab_largefov", "receptive_field_table", "ASPPv2", "ASPP", "ASPPPooling", "DeepLabV3Head", "aspp_branch_fields", "ImagePyramidNet", "EncoderDecoderNet", "DeeperAtrousNet", "SPPNet", "SPPv2Net", "with_output_stride", "SCHEMES", "build_scheme", "GCN", "BoundaryRefinement", "GCNNet", "gcn_kernel", "kernel_rank", "gcn_costs",
           "FCIS", "fcis_loss", "fcis_predict", "init_from_fcn", "instance_boxes", "mask_targets", "sample_rois",
           "train_fcis",
           "LargeKernelNet", "large_kernel_head", "score_erf", "kernel_footprints", "expected_energy", "MAX_FOOTPRINT_K",
           "conv_macs", "FCN", "FCN_VARIANTS", "center_crop", "fuse_scores", "init_from_classifier", "VGGClassifier", "heat_maps",
           "pad_for_heat_map", "sliding_window", "train_heat_map_classifier", "TinyFCN", "HEATMAP_WIDTHS",
           "VGG16_LAYOUT", "VGG16_WIDTHS", "VGG_WIDTHS", "VGGBackbone", "convolutionalize", "fc_as_conv",
           "slim_vgg16_features", "vgg16_layer_names",
           "MASK_RCNN_CONFIG", "FPNBackbone", "build_mask_rcnn", "roi_extractor", "set_roi_op", "train_mask_rcnn", "iteration_seconds", "detect", "evaluate_mask_rcnn", "detection_scores", "paste_mask_like_torchvision", "mask_rcnn_stages", "detection_candidates", "filter_detections", "mask_rcnn_shapes", "match_detections", "threshold_frame", "threshold_context", "mask_rcnn_losses_by_hand",
           "LSE_HEADS", "LSE_VARIANTS", "LSE_SOURCES", "LSE_TRAIN_SEED", "LSE_VAL_SEED", "WeightTransfer", "TransferMaskPredictor", "detection_weights", "partial_mask_loss", "LSERoIHeads", "build_lse_mask_rcnn", "lse_batch", "lse_val_set", "train_lse", "detect_lse", "evaluate_lse", "swapped_transfer", "probe_mappings", "transfer_mask_frame", "head_masks_on_gt_boxes", "gt_box_mask_iou"]
