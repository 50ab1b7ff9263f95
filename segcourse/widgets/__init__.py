"""Widgets: thin wiring (``base.connect``) of controls to a tested compute function and a drawing;
one file per compute module it shows."""
from .atrous import aspp_explorer, footprint_explorer
from .crf import crf_explorer
from .base import FigureWidget, connect, new_figure
from .fcis import fcis_explorer
from .metrics import iou_explorer
from .receptive_field import receptive_field_explorer
from .roi import roi_explorer
from .upsampling import interpolation_explorer
from .large_kernel import kernel_explorer
from .lse import transfer_explorer
from .mask_rcnn import detection_explorer

__all__ = ["FigureWidget", "connect", "new_figure", "iou_explorer", "receptive_field_explorer",
           "interpolation_explorer", "footprint_explorer", "aspp_explorer", "crf_explorer", "roi_explorer", "fcis_explorer", "kernel_explorer",
           "detection_explorer", "transfer_explorer"]
