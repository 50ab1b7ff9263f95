"""Data: the course scenes (rendered, on disk in the Pascal VOC layout, in memory), real photos,
and what the slides typed."""
from .images import (IMAGENET_MEAN, IMAGENET_STD, PHOTOS, grey_patch, image_tensor, image_uint8, imagenet_normalize, photo,
                     prepare_photo)
from .scene_dataset import generate_dataset, load_scene_instances, load_scenes, render_scenes
from .detection import (instance_targets, dihedral, detection_batch, detection_val_set, DETECTION_VAL_SEED, DETECTION_TRAIN_SEED)
from .scenes import CLASSES, NUM_CLASSES, Scene, render_scene
from .shapes import (SHAPE_CLASSES, SHAPE_GROUPS, SHAPES_A, SHAPES_B, SHAPE_RELATIVES, NUM_SHAPE_CLASSES, render_shapes_scene, shape_class_ids, shape_gallery)
from .slides import slide_heat_map, slide_heat_map_rows
from .voc import (VOC_CLASSES, VOC_PALETTE, VOCSegmentation, coco_annotations, colorize, load_split, read_label_png,
                  read_voc_xml, verify_manifest, write_label_png)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "PHOTOS", "grey_patch", "image_tensor", "image_uint8", "imagenet_normalize", "photo",
           "prepare_photo", "generate_dataset", "load_scene_instances", "load_scenes", "render_scenes", "CLASSES", "NUM_CLASSES", "Scene",
           "render_scene", "slide_heat_map", "slide_heat_map_rows", "VOC_CLASSES", "VOC_PALETTE",
           "VOCSegmentation", "coco_annotations", "colorize", "load_split", "read_label_png", "read_voc_xml",
           "verify_manifest", "write_label_png", "instance_targets", "dihedral", "detection_batch", "detection_val_set", "DETECTION_VAL_SEED", "DETECTION_TRAIN_SEED",
           "SHAPE_CLASSES", "SHAPE_GROUPS", "SHAPES_A", "SHAPES_B", "SHAPE_RELATIVES", "NUM_SHAPE_CLASSES", "render_shapes_scene", "shape_class_ids", "shape_gallery"]
