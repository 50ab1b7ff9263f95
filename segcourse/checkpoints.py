"""The shipped checkpoints: one literal table of what each net is, how it is built and trained, and
the metric it promises; loading, saving, and the command that remakes them.

    ./course retrain --list          # python -m segcourse.tooling.retrain --list
    ./course retrain tiny_fcn        # retrain one (deterministic, seeded)
    ./course retrain                 # all of them

A checkpoint file holds ``{"state_dict": ..., "meta": {...}}`` and loads with
``torch.load(..., weights_only=True)``: plain tensors and numbers, no pickled code. Each entry's
promised metric is checked on the shipped file by ``tests/test_checkpoints.py``.
"""
from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

from ._paths import data_dir
from ._validate import check_choice, check_int
from .data.scene_dataset import load_scene_instances, load_scenes, render_scenes
from .data.scenes import CLASSES
from .metrics import SIZE_BUCKETS, confusion_matrix, instance_size_iou, mask_ap, mean_iou
from .models.deeplab import build_scheme
from .models.fcis import FCIS, fcis_predict, init_from_fcn, instance_boxes, train_fcis
from .models.fcn import FCN, init_from_classifier
from .models.gcn import LargeKernelNet
from .models.mask_rcnn import build_mask_rcnn, evaluate_mask_rcnn, train_mask_rcnn
from .models.lse import build_lse_mask_rcnn, evaluate_lse, lse_val_set, train_lse
from .data.detection import detection_val_set
from .models.heat_map import VGGClassifier, heat_maps, train_heat_map_classifier
from .models.tiny_fcn import TinyFCN
from .models.vgg import VGG_WIDTHS
from .ops.labels import block_targets, classification_crops
from .seed import seed_everything
from .train import fit, predict, predict_proba, train_segmentation

__all__ = ["CHECKPOINTS", "CheckpointSpec", "checkpoint_path", "load_checkpoint", "save_checkpoint",
           "train_checkpoint", "retrain", "checkpoint_metric", "checksums_path", "file_sha256",
           "recorded_checksums", "record_checksum", "fcn_training_set", "fcis_training_set", "build_fcn_classifier",
           "fcn_classifier_crops", "train_fcn", "fcn_study_results", "FCN_EPOCHS", "SCHEME_NETS",
           "train_scheme", "scheme_val_set", "size_scores", "scheme_study_results", "LK_NETS",
           "build_large_kernel_net", "train_large_kernel", "large_kernel_val_set", "frozen_features",
           "train_head_on_features", "load_frozen_backbone", "large_kernel_study_results", "MASK_RCNN_ITERATIONS", "ROI_STUDY_ITERATIONS",
           "ROI_STUDY_VAL_EXTRA", "ROI_STUDY_NETS", "build_study_net", "roi_study_results",
           "LSE_ITERATIONS", "LSE_VAL_SCENES", "lse_study_results"]


# -- training sets and recipes ---------------------------------------------------------------------

#: Epochs of the shipped tiny_fcn (lesson 00 reruns a few of them live) on the 320 shipped scenes.
TINY_FCN_EPOCHS = 30
#: The heat-map classifier trains on the FCNs' scenes (``fcn_training_set``), ~3 minutes an epoch.
HEATMAP_EPOCHS = 8
#: ``fcn_training_set()``: the 320 shipped training scenes plus FCN_EXTRA_SCENES rendered in memory
#: (dataset seed 1, disjoint from the shipped val scenes); lessons 02 and 07-09 train on it. On 320
#: scenes alone the nets overfit.
FCN_EXTRA_SCENES = 2240
#: Lesson 04's FCNs (the paper's recipe at course scale): start from the pre-trained classifier
#: ``fcn_classifier`` (``init_from_classifier``), then FCN_EPOCHS epochs over
#: ``fcn_training_set(FCN_TRAIN_EXTRA)`` (the same scenes, more of seed 1: 4,800), batches of 16,
#: Adam 3e-3 one-cycle; ``python -m segcourse.tooling.fcn_study`` runs the same recipe from scratch.
FCN_EPOCHS = 16
FCN_TRAIN_EXTRA = 4480
#: The pre-training (lesson 04, "FCN as the paper tells it"): a classifier with the FCN's layers learns
#: to name what is at the centre of a 96-px crop (``classification_crops``: FCN_CLASSIFIER_CROPS crops
#: per scene, FCN_CLASSIFIER_FOREGROUND of them centred on an object) of FCN_CLASSIFIER_SCENES scenes
#: of dataset seed FCN_CLASSIFIER_SEED (no segmenter trains on them), FCN_CLASSIFIER_EPOCHS epochs.
FCN_CLASSIFIER_SEED = 3
FCN_CLASSIFIER_SCENES = 6000
FCN_CLASSIFIER_CROPS = 2
FCN_CLASSIFIER_FOREGROUND = 0.7
FCN_CLASSIFIER_EPOCHS = 4
#: The FCIS head (lesson 09) starts from the shipped fcn8s and trains on the FCNs' scenes, with their
#: instance maps, for FCIS_EPOCHS epochs of batches of FCIS_BATCH images (960 steps; the first three
#: VGG blocks are frozen and computed once): about 1.5 minutes with the data on 2 idle cores; on the
#: shared, loaded machine anywhere from 6 to 20 minutes (measured).
FCIS_EPOCHS = 3
FCIS_BATCH = 8
FCIS_LR = 2e-3
#: RoIs per image in training (see segcourse.models.fcis.sample_rois): each ground-truth box, 3
#: copies jittered by 10 %, 2 by 35 %, 6 random boxes; the mask loss weighs 3 times the class loss
#: (measured: val mask AP 0.284 against 0.271 with weight 1, same schedule).
FCIS_LOSS = {"n_jitter": 3, "n_shifted": 2, "n_random": 6, "mask_weight": 3.0}


@functools.lru_cache(maxsize=2)
def fcn_training_set(extra: int = FCN_EXTRA_SCENES) -> tuple[torch.Tensor, torch.Tensor]:
    """The course's segmentation training set: the 320 shipped training scenes, then ``extra`` more
    rendered from dataset seed 1 (a longer set starts with the shorter one's scenes). Returns images
    (N, 3, 128, 128) float and masks (N, 128, 128) int64.

    Built once per process (``./course retrain`` trains several nets on it); callers must not modify it.
    """
    images, masks = load_scenes("train")
    extra_images, extra_masks = render_scenes(check_int(extra, "extra", min_value=1), seed=1)
    return torch.cat([images, extra_images]), torch.cat([masks, extra_masks])


def build_fcn_classifier() -> VGGClassifier:
    """Lesson 04's pre-training classifier: the FCN's layers (VGG widths 8-64, SAME convolutions,
    BatchNorm, fc6 on a 3x3 pool5 window, fc width 128) as a classifier of 96-px crops."""
    return VGGClassifier(num_classes=len(CLASSES), widths=VGG_WIDTHS, fc_width=128, fc6_kernel=3, padding=1,
                         fc_batchnorm=True)


def fcn_classifier_crops(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """The pre-training crops: ``train`` cuts FCN_CLASSIFIER_CROPS per scene from FCN_CLASSIFIER_SCENES
    scenes of dataset seed FCN_CLASSIFIER_SEED; ``val`` 4 per shipped val scene. Returns crops
    (M, 3, 96, 96) and labels (M,) int64 (``classification_crops``)."""
    if check_choice(split, "split", ("train", "val")) == "train":
        images, masks = render_scenes(FCN_CLASSIFIER_SCENES, seed=FCN_CLASSIFIER_SEED)
        per_image = FCN_CLASSIFIER_CROPS
    else:
        (images, masks), per_image = load_scenes("val"), 4
    return classification_crops(images, masks, len(CLASSES), size=96, per_image=per_image,
                                foreground=FCN_CLASSIFIER_FOREGROUND, seed=0)


def fcis_training_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The FCIS head's training set: the scenes of :func:`fcn_training_set` (320 shipped training
    scenes, then FCN_EXTRA_SCENES rendered from dataset seed 1) with their instance maps.
    Returns images (N, 3, 128, 128) float and targets (N, 2, 128, 128) uint8 (semantic, instance)."""
    images, masks = load_scenes("train")
    inst = load_scene_instances("train")
    extra_images, extra_masks, extra_inst = render_scenes(FCN_EXTRA_SCENES, seed=1, instances=True)
    targets = torch.stack([torch.cat([masks, extra_masks]), torch.cat([inst, extra_inst.long()])], 1)
    return torch.cat([images, extra_images]), targets.to(torch.uint8)


def _val_objects():
    """The val scenes' objects (for mask AP) and their tight boxes."""
    _, masks = load_scenes("val")
    gt, boxes = [], []
    for sem, inst in zip(masks, load_scene_instances("val")):
        m, c, b = instance_boxes(sem, inst)
        gt.append({"masks": m, "classes": c})
        boxes.append(b)
    return gt, boxes


def _val_mask_ap_gt_boxes(model: nn.Module) -> float:
    """COCO mask AP (0.50:0.95) of an FCIS head on the 80 val scenes, each object's ground-truth box
    given as its RoI (the head classifies the box and draws its mask)."""
    images, _ = load_scenes("val")
    gt, boxes = _val_objects()
    return mask_ap(gt, fcis_predict(model, images, boxes))["AP"]


def _val_miou(model: nn.Module) -> float:
    images, masks = load_scenes("val")
    return mean_iou(confusion_matrix(predict(model, images), masks, num_classes=len(CLASSES)))


def _val_crop_label_accuracy(model: nn.Module) -> float:
    """Share of the val crops (``fcn_classifier_crops("val")``) whose label the classifier names."""
    crops, labels = fcn_classifier_crops("val")
    return float((predict_proba(model, crops).argmax(1) == labels).double().mean())


def _val_crop_accuracy(model: nn.Module) -> float:
    """Heat-map cells whose largest class (the classifier's argmax) is the largest class of the
    cell's 32x32 block of the val scenes."""
    images, masks = load_scenes("val")
    share = block_targets(masks, len(CLASSES))
    return float((heat_maps(model, images).argmax(1) == share.argmax(1)).double().mean())


def _val_detection(model: nn.Module) -> dict:
    images, targets = detection_val_set()
    return evaluate_mask_rcnn(model, images, targets)


def _val_mask_ap(model: nn.Module) -> float:
    """COCO mask AP (0.50:0.95) of a Mask R-CNN on the 80 val scenes."""
    return _val_detection(model)["mask"]["AP"]


def _val_box_ap(model: nn.Module) -> float:
    """COCO box AP (0.50:0.95) of a Mask R-CNN on the 80 val scenes."""
    return _val_detection(model)["box"]["AP"]


def _lse_val_mask_ap(model: nn.Module) -> float:
    """COCO mask AP (0.50:0.95, all 24 classes) of an LSE model's transfer head on the first 100 of
    lesson 12's validation scenes (:func:`segcourse.models.lse.lse_val_set`)."""
    images, targets = lse_val_set(100)
    return evaluate_lse(model, images, targets, heads=("transfer",))["transfer"]["AP"]


#: The metrics a checkpoint can promise (on the 80 shipped val scenes; lse_* on lesson 12's scenes).
METRICS: dict[str, Callable[[nn.Module], float]] = {"val_miou": _val_miou,
                                                     "val_crop_label_accuracy": _val_crop_label_accuracy,
                                                     "val_crop_accuracy": _val_crop_accuracy,
                                                     "val_mask_ap_gt_boxes": _val_mask_ap_gt_boxes,
                                                     "val_mask_ap": _val_mask_ap, "val_box_ap": _val_box_ap,
                                                     "lse_val_mask_ap": _lse_val_mask_ap}


def _train_tiny_fcn(model: nn.Module, progress: bool = True) -> dict:
    images, masks = load_scenes("train")
    hist = train_segmentation(model, images, masks, epochs=TINY_FCN_EPOCHS, batch_size=16, lr=3e-3,
                              seed=0, progress=progress, desc="tiny_fcn")
    return {"epochs": TINY_FCN_EPOCHS, "final_loss": hist["loss"][-1], "seconds": hist["seconds"]}


def _train_heatmap(model: nn.Module, progress: bool = True) -> dict:
    images, masks = fcn_training_set()
    hist = train_heat_map_classifier(model, images, masks, epochs=HEATMAP_EPOCHS, batch_size=16, lr=3e-3,
                                     seed=0, progress=progress, desc="vgg_heatmap")
    return {"epochs": HEATMAP_EPOCHS, "train_scenes": int(images.shape[0]), "final_loss": hist["loss"][-1],
            "seconds": hist["seconds"]}


def _train_fcn_classifier(model: nn.Module, progress: bool = True) -> dict:
    crops, labels = fcn_classifier_crops("train")
    # targets as (M, 1): fit's seeded flips mirror the last axis of the targets, a no-op for one label
    hist = fit(model, crops, labels[:, None], lambda x, y: F.cross_entropy(model(x), y[:, 0]),
               epochs=FCN_CLASSIFIER_EPOCHS, batch_size=32, lr=3e-3, seed=0, progress=progress,
               desc="fcn_classifier", threads=1)
    return {"epochs": FCN_CLASSIFIER_EPOCHS, "threads": 1, "train_crops": int(crops.shape[0]),
            "label_counts": torch.bincount(labels, minlength=len(CLASSES)).tolist(),
            "final_loss": hist["loss"][-1], "seconds": hist["seconds"],
            "val_crop_label_accuracy": _val_crop_label_accuracy(model)}


def train_fcn(model: nn.Module, seed: int = 0, init: str = "classifier", progress: bool = True,
              on_epoch=None) -> dict:
    """Lesson 04's recipe: ``init`` "classifier" copies the shipped ``fcn_classifier`` into ``model``
    (``init_from_classifier``; retrain that first), "scratch" keeps ``model``'s own weights; then
    FCN_EPOCHS epochs over ``fcn_training_set(FCN_TRAIN_EXTRA)`` with data order ``seed``.
    ``on_epoch(epoch, model)`` as in ``fit``. One torch thread (part of the recipe; run two side by
    side on 2 cores). Returns the meta dict of the checkpoint."""
    if check_choice(init, "init", ("classifier", "scratch")) == "classifier":
        init_from_classifier(model, load_checkpoint("fcn_classifier"))
    images, masks = fcn_training_set(FCN_TRAIN_EXTRA)
    hist = train_segmentation(model, images, masks, epochs=FCN_EPOCHS, batch_size=16, lr=3e-3, seed=seed,
                              progress=progress, desc=f"fcn{model.variant} ({init})", on_epoch=on_epoch, threads=1)
    return {"epochs": FCN_EPOCHS, "train_scenes": int(images.shape[0]), "init": init, "seed": seed, "threads": 1,
            "final_loss": hist["loss"][-1], "seconds": hist["seconds"], "val_miou": _val_miou(model)}


def _train_fcn(model: nn.Module, progress: bool = True) -> dict:
    return train_fcn(model, 0, "classifier", progress)


def _train_fcis(model: nn.Module, progress: bool = True) -> dict:
    """Start from the shipped fcn8s (its backbone and class scores, ``init_from_fcn``; so retrain
    fcn8s first), then FCIS_EPOCHS epochs on ``fcis_training_set``."""
    init_from_fcn(model, load_checkpoint("fcn8s"))
    images, targets = fcis_training_set()
    hist = train_fcis(model, images, targets, epochs=FCIS_EPOCHS, batch_size=FCIS_BATCH, lr=FCIS_LR, seed=0,
                      progress=progress, desc="fcis", **FCIS_LOSS)
    return {"epochs": FCIS_EPOCHS, "train_scenes": int(images.shape[0]), "steps": hist["steps"],
            "batch_size": FCIS_BATCH,
            "final_loss": hist["loss"][-1], "seconds": hist["seconds"],
            "val_mask_ap_gt_boxes": _val_mask_ap_gt_boxes(model)}


#: Lesson 08's study of Large Kernel Matters (arXiv:1703.02719) at course scale: each
#: :class:`LargeKernelNet` trains LK_EPOCHS epochs of LK_BATCH scenes over ``fcn_training_set`` (2560
#: scenes; 640 steps), Adam 3e-3 one-cycle, the same seeded data order and flips for every net (fit's
#: ``seed``), weights drawn after ``seed_everything(seed)``. The study
#: (``python -m segcourse.tooling.large_kernel_study``) runs every net at given seeds; ``_lk_spec``
#: makes a table entry (half precision) for a shipped seed-0 run. Note: ``seed_everything`` (called
#: by ``fit``) sets 2 threads, so a process's own ``torch.set_num_threads`` does not last.
LK_BATCH = 8
LK_EPOCHS = 2
#: name -> LargeKernelNet keyword arguments (the shipped ones and the study's other nets).
LK_NETS = {"lk_base": {"head": "conv", "k": 1}, "lk_gcn3": {"head": "gcn", "k": 3},
           "lk_gcn7": {"head": "gcn", "k": 7}, "lk_gcn11": {"head": "gcn", "k": 11},
           "lk_gcn15": {"head": "gcn", "k": 15}, "lk_conv7": {"head": "conv", "k": 7},
           "lk_conv15": {"head": "conv", "k": 15}, "lk_stack15": {"head": "stack", "k": 15},
           "lk_gcn15_br": {"head": "gcn", "k": 15, "br": True}}


def build_large_kernel_net(name: str) -> nn.Module:
    """The study's net ``name`` (a key of :data:`LK_NETS`), weights from torch's global generator."""
    return LargeKernelNet(num_classes=len(CLASSES), **LK_NETS[check_choice(name, "name", tuple(LK_NETS))])


def train_large_kernel(model: nn.Module, seed: int = 0, progress: bool = True, desc: str = "large kernel") -> dict:
    """Lesson 08's recipe: train ``model`` in place, LK_EPOCHS epochs of ``fcn_training_set`` with data order ``seed``."""
    images, masks = fcn_training_set()
    hist = train_segmentation(model, images, masks, epochs=LK_EPOCHS, batch_size=LK_BATCH, lr=3e-3,
                              seed=seed, progress=progress, desc=desc)
    return {"epochs": LK_EPOCHS, "train_scenes": int(images.shape[0]), "batch_size": LK_BATCH,
            "steps": hist["steps"], "final_loss": hist["loss"][-1], "seconds": hist["seconds"],
            "seconds_per_step": hist["seconds"] / hist["steps"], "seed": seed}


@functools.lru_cache(maxsize=1)
def large_kernel_val_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The study's 480 val scenes, lesson 07's (:func:`scheme_val_set`) without the instance maps:
    images (480, 3, 128, 128), masks (480, 128, 128); do not modify."""
    images, masks, _ = scheme_val_set()
    return images, masks


#: The k sweep on a frozen backbone: only the head of a LargeKernelNet trains, LK_PROBE_STEPS steps of
#: LK_PROBE_BATCH scenes (the first LK_PROBE_STEPS x LK_PROBE_BATCH of ``fcn_training_set``, one pass,
#: no flips), on the backbone of the shipped ``LK_PROBE_BACKBONE``.
LK_PROBE_STEPS = 320
LK_PROBE_BATCH = 8
LK_PROBE_BACKBONE = "lk_gcn15"


@torch.no_grad()
def frozen_features(model: nn.Module, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """The last backbone map of a LargeKernelNet for each image (eval mode): (N, C, H/8, W/8)."""
    model.eval()
    return torch.cat([model.backbone(images[i:i + batch_size])[-1] for i in range(0, len(images), batch_size)])


def train_head_on_features(model: nn.Module, features: torch.Tensor, masks: torch.Tensor, seed: int = 0,
                           progress: bool = True, desc: str = "head") -> dict:
    """Train ``model.head`` (and ``model.br``) of a LargeKernelNet on frozen ``features`` (N, C, h, w)
    against ``masks`` (N, H, W): one seeded pass, batch LK_PROBE_BATCH, Adam 3e-3 one-cycle."""
    import torch.nn.functional as F
    from .models.common import upsample_to
    from .ops.labels import IGNORE_INDEX
    from .train import fit
    top = nn.Sequential(model.head, model.br)
    hist = fit(top, features, masks, lambda x, y: F.cross_entropy(upsample_to(top(x), y.shape[-2:]), y,
                                                               ignore_index=IGNORE_INDEX),
               epochs=1, batch_size=LK_PROBE_BATCH, lr=3e-3, seed=seed, flip=False, progress=progress, desc=desc)
    model.eval()
    return {"steps": hist["steps"], "final_loss": hist["loss"][-1], "seconds": hist["seconds"], "seed": seed,
            "backbone": LK_PROBE_BACKBONE}


def load_frozen_backbone(model: nn.Module) -> nn.Module:
    """Copy the shipped LK_PROBE_BACKBONE's backbone into ``model`` (a LargeKernelNet); returns it."""
    model.backbone.load_state_dict(load_checkpoint(LK_PROBE_BACKBONE).backbone.state_dict())
    return model


def _train_probe(model: nn.Module, progress: bool = True, seed: int = 0) -> dict:
    images, masks = fcn_training_set()
    n = LK_PROBE_STEPS * LK_PROBE_BATCH
    load_frozen_backbone(model)
    return train_head_on_features(model, frozen_features(model, images[:n]), masks[:n], seed, progress)


#: Where ``python -m segcourse.tooling.large_kernel_study --merge`` writes the study (under data/).
LK_RESULTS = "results/large_kernels.json"


def large_kernel_study_results() -> dict:
    """The recorded study of lesson 08 (``data/results/large_kernels.json``): ``{"val_scenes",
    "erf_images", "runs": [one dict per (net, seed): LK_NETS's keywords, the recipe's meta, "miou",
    "boundary_f", "band3_accuracy", "head_params", "head_macs", "erf90_input", "erf90_features"],
    "probe": {"steps", "batch_size", "runs": [one dict per (head, k, seed) on a frozen backbone]}}``."""
    import json
    path = data_dir() / LK_RESULTS
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segcourse.tooling.large_kernel_study` (see its docstring)")
    return json.loads(path.read_text())


def _probe_spec(name: str, promise: float, description: str) -> "CheckpointSpec":
    return CheckpointSpec(lambda: build_large_kernel_net(name), _train_probe, description, ("08",), "val_miou",
                          promise, half=True)


def _lk_spec(name: str, promise: float, description: str) -> "CheckpointSpec":
    return CheckpointSpec(lambda: build_large_kernel_net(name),
                          lambda model, progress: train_large_kernel(model, 0, progress, name),
                          description, ("08",), "val_miou", promise, half=True)


#: Lesson 07's study of DeepLab v3's Figure 2: each net trains SCHEME_EPOCHS epochs over the first
#: SCHEME_SCENES scenes of ``fcn_training_set`` (all 4,800) in batches of SCHEME_BATCH: 1,200
#: iterations, 9,600 images, a quarter of what each FCN of lesson 04 sees (5 nets x 2 seeds take about
#: 40 minutes on 2 idle cores, one process per seed). Adam 3e-3 one-cycle, the same seeded data order and flips for every net (fit's ``seed``), weights drawn from
#: ``build_scheme``'s ``seed``. The study (``python -m segcourse.tooling.scheme_study``) runs it at
#: seeds 0 and 1; the shipped checkpoints are the seed-0 runs, in half precision.
SCHEME_BATCH = 8
SCHEME_SCENES = 4800
SCHEME_EPOCHS = 2
#: name -> (build_scheme name, keyword arguments). ``deeplab_spp_os16`` trains at output stride 16
#: with rates (2, 3, 4) on its 8 x 8 map; ``with_output_stride(model, 8)`` runs it at 8 with (4, 6, 8).
SCHEME_NETS = {"deeplab_pyramid": ("image_pyramid", {}), "deeplab_encdec": ("encoder_decoder", {}),
               "deeplab_deeper": ("deeper_atrous", {}), "deeplab_spp": ("spp", {}),
               "deeplab_spp_v2": ("spp_v2", {}), "deeplab_spp_os16": ("spp", {"output_stride": 16, "rates": (2, 3, 4)})}
#: The study's validation set: the 80 shipped val scenes and SCHEME_VAL_EXTRA more from dataset seed
#: SCHEME_VAL_SEED (no training set uses it).
SCHEME_VAL_EXTRA = 400
SCHEME_VAL_SEED = 7


@functools.lru_cache(maxsize=1)
def _scheme_training_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The first SCHEME_SCENES scenes of ``fcn_training_set`` (the same tensors), rendering only those."""
    images, masks = load_scenes("train")
    extra_images, extra_masks = render_scenes(SCHEME_SCENES - images.shape[0], seed=1)
    return torch.cat([images, extra_images]), torch.cat([masks, extra_masks])


def train_scheme(model: nn.Module, seed: int = 0, progress: bool = True, desc: str = "scheme") -> dict:
    """Lesson 07's recipe (SCHEME_EPOCHS over SCHEME_SCENES scenes, one torch thread): train
    ``model`` in place with data order ``seed``."""
    images, masks = _scheme_training_set()
    hist = train_segmentation(model, images, masks, epochs=SCHEME_EPOCHS, batch_size=SCHEME_BATCH, lr=3e-3,
                              seed=seed, progress=progress, desc=desc, threads=1)
    return {"epochs": SCHEME_EPOCHS, "train_scenes": SCHEME_SCENES, "batch_size": SCHEME_BATCH, "threads": 1,
            "steps": hist["steps"], "final_loss": hist["loss"][-1], "seconds": hist["seconds"],
            "seconds_per_step": hist["seconds"] / hist["steps"], "seed": seed}


@functools.lru_cache(maxsize=1)
def scheme_val_set() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The study's val set: images (N, 3, 128, 128), masks (N, 128, 128), instance maps (N, 128, 128),
    the 80 shipped val scenes first. Callers must not modify it."""
    images, masks = load_scenes("val")
    inst = load_scene_instances("val")
    ei, em, ek = render_scenes(SCHEME_VAL_EXTRA, seed=SCHEME_VAL_SEED, instances=True)
    return torch.cat([images, ei]), torch.cat([masks, em]), torch.cat([inst, ek])


def size_scores(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, instances: torch.Tensor,
                batch_size: int = 32) -> dict:
    """mIoU over all pixels and mean instance IoU per size bucket (``instance_size_iou``) of
    ``model``'s predictions: {"miou", "small", "medium", "large", "recall_<bucket>", "count_<bucket>"}."""
    pred = predict(model, images, batch_size)
    out = {"miou": mean_iou(confusion_matrix(pred, masks, num_classes=len(CLASSES)))}
    s = instance_size_iou(pred, masks, instances, num_classes=len(CLASSES))
    for i, b in enumerate(SIZE_BUCKETS):
        out[b] = float(s["mean_iou"][i])
        out[f"recall_{b}"] = float(s["recall"][i])
        out[f"count_{b}"] = int(s["count"][i])
    return out


#: Where ``python -m segcourse.tooling.scheme_study --merge`` writes the study's runs (under data/).
SCHEME_RESULTS = "results/lesson07_schemes.json"


def scheme_study_results() -> list[dict]:
    """The recorded runs of lesson 07's study (``data/results/lesson07_schemes.json``): one dict per
    (net, seed) with the recipe's meta (steps, seconds_per_step, ...), ``params``, ``macs``,
    ``val80_miou`` and ``val`` (:func:`size_scores` on :func:`scheme_val_set`); the output-stride-16
    net also ``val_os8``, ``val80_miou_os8`` and ``macs_os8`` (run at output stride 8)."""
    import json
    path = data_dir() / SCHEME_RESULTS
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segcourse.tooling.scheme_study` (see its docstring)")
    return json.loads(path.read_text())["runs"]


def _scheme_spec(name: str, promise: float, description: str) -> "CheckpointSpec":
    scheme, kwargs = SCHEME_NETS[name]
    return CheckpointSpec(lambda: build_scheme(scheme, num_classes=len(CLASSES), seed=0, **kwargs),
                          lambda model, progress: train_scheme(model, 0, progress, name),
                          description, ("07",), "val_miou", promise, half=True)


# -- lesson 11: Mask R-CNN ---------------------------------------------------------------------------

#: Iterations of the shipped Mask R-CNN (batches of 8 fresh scenes, one torch thread).
MASK_RCNN_ITERATIONS = 3000
#: Iterations of each run of the RoIAlign-vs-RoIPool study (lesson 11; equal iterations).
ROI_STUDY_ITERATIONS = 1000
#: Extra validation scenes of that study (rendered from ``DETECTION_VAL_SEED``).
ROI_STUDY_VAL_EXTRA = 400
#: The study's nets: name -> (RoI op, FPN levels the heads read).
ROI_STUDY_NETS = {"mrcnn_align": ("align", ("0", "1", "2")), "mrcnn_pool": ("pool", ("0", "1", "2")),
                  "mrcnn_align_s8": ("align", ("0",)), "mrcnn_pool_s8": ("pool", ("0",)),
                  "mrcnn_align_s32": ("align", ("2",)), "mrcnn_pool_s32": ("pool", ("2",))}
#: Where ``python -m segcourse.tooling.roi_study --merge`` writes the study's runs (under data/).
ROI_STUDY_RESULTS = "results/roi_study.json"


def build_study_net(name: str, seed: int = 0) -> nn.Module:
    """A net of the RoIAlign-vs-RoIPool study (:data:`ROI_STUDY_NETS`), weights from ``seed``."""
    op, levels = ROI_STUDY_NETS[check_choice(name, "name", tuple(ROI_STUDY_NETS))]
    return build_mask_rcnn(op=op, levels=levels, seed=seed)


def _train_mask_rcnn_recipe(iterations: int):
    def recipe(model: nn.Module, progress: bool = True, seed: int = 0) -> dict:
        hist = train_mask_rcnn(model, iterations, seed=seed, threads=1, progress=progress)
        return {"iterations": hist["iterations"], "seconds": round(hist["seconds"], 1), "threads": 1,
                "seed": seed, "op": model.roi_op, "final_loss": sum(hist["loss"][-50:]) / len(hist["loss"][-50:])}
    return recipe


def roi_study_results() -> dict:
    """The recorded runs of lesson 11's RoIAlign-vs-RoIPool study (``data/results/roi_study.json``):
    ``{"runs": [{"net", "seed", "iterations", "seconds", "val80": {"mask", "box"}, "val": {...}}, ...]}``
    with ``val`` on :func:`detection_val_set` with :data:`ROI_STUDY_VAL_EXTRA` extra scenes."""
    import json
    path = data_dir() / ROI_STUDY_RESULTS
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segcourse.tooling.roi_study` (see its docstring)")
    return json.loads(path.read_text())


# -- lesson 12: Learning to Segment Every Thing ---------------------------------------------------

#: Iterations of each run of lesson 12's study (one model holds the agnostic, transfer and oracle
#: mask heads on one detector; batches of 8 fresh 24-class scenes, one torch thread).
LSE_ITERATIONS = 2000
#: Validation scenes of lesson 12's study (:func:`segcourse.models.lse.lse_val_set`).
LSE_VAL_SCENES = 400
#: Where ``python -m segcourse.tooling.lse_study --merge`` writes the study's runs (under data/).
LSE_STUDY_RESULTS = "results/lse_study.json"
#: Where ``python -m segcourse.tooling.fcn_study --merge`` writes lesson 04's study (under data/).
FCN_RESULTS = "results/fcn_transfer.json"


def _train_lse_recipe(iterations: int):
    def recipe(model: nn.Module, progress: bool = True, seed: int = 0, **kw) -> dict:
        hist = train_lse(model, iterations, seed=seed, threads=1, progress=progress, **kw)
        last = {k: sum(v[-50:]) / len(v[-50:]) for k, v in hist["losses"].items()}
        return {"iterations": hist["iterations"], "seconds": round(hist["seconds"], 1), "threads": 1, "seed": seed,
                "final_loss": sum(hist["loss"][-50:]) / len(hist["loss"][-50:]), "final_losses": last}
    return recipe


def lse_study_results() -> dict:
    """The recorded runs of lesson 12's study (``data/results/lse_study.json``): ``{"val_scenes",
    "runs": [{"net", "seed", "iterations", "seconds", "heads": {head: {"AP", "AP_A", "AP_B",
    "per_class"}}, "box": {...}, "probe": {kind: {"AP_B", "per_class"}}, "curve": [...]}, ...]}``."""
    import json
    path = data_dir() / LSE_STUDY_RESULTS
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segcourse.tooling.lse_study` (see its docstring)")
    return json.loads(path.read_text())


def fcn_study_results() -> dict:
    """The recorded runs of lesson 04's study (``data/results/fcn_transfer.json``): ``{"val_scenes",
    "runs": [{"net", "variant", "init", "seed", "epochs", "seconds", "curve": [{"epoch", "miou",
    "miou_val80"}], "miou", "boundary_f", "band3_accuracy"}, ...]}``."""
    import json
    path = data_dir() / FCN_RESULTS
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segcourse.tooling.fcn_study` (see its docstring)")
    return json.loads(path.read_text())


# -- the table -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckpointSpec:
    """A shipped net: ``build() -> model``, ``train(model, progress) -> meta dict``, a description,
    the lessons that use it, and its promise: ``METRICS[metric](model) >= promise`` on val."""
    build: Callable[[], nn.Module]
    train: Callable[[nn.Module, bool], dict]
    description: str
    lessons: tuple
    metric: str
    promise: float
    half: bool = False    # shipped in half precision (floating tensors), loaded back as float32


CHECKPOINTS: dict[str, CheckpointSpec] = {
    "tiny_fcn": CheckpointSpec(
        lambda: TinyFCN(num_classes=len(CLASSES), width=16), _train_tiny_fcn,
        "TinyFCN (output stride 8, dilated) on the course scenes", ("00",), "val_miou", 0.37),
    "vgg_heatmap": CheckpointSpec(
        lambda: VGGClassifier(num_classes=len(CLASSES)), _train_heatmap,
        "VGG-16-shaped crop classifier (unpadded, widths 4-32) for heat maps", ("02",), "val_crop_accuracy", 0.93),
    "fcn_classifier": CheckpointSpec(
        build_fcn_classifier, _train_fcn_classifier,
        "the FCNs' layers as a classifier of 96-px crops (what is at the centre?), their pre-training", ("04",),
        "val_crop_label_accuracy", 0.75),
    "fcn32s": CheckpointSpec(
        lambda: FCN("32s", num_classes=len(CLASSES)), _train_fcn,
        "FCN-32s on the reduced-width VGG-16 backbone, from fcn_classifier", ("04",), "val_miou", 0.57),
    "fcn16s": CheckpointSpec(
        lambda: FCN("16s", num_classes=len(CLASSES)), _train_fcn,
        "FCN-16s on the reduced-width VGG-16 backbone, from fcn_classifier", ("04",), "val_miou", 0.70),
    "fcn8s": CheckpointSpec(
        lambda: FCN("8s", num_classes=len(CLASSES)), _train_fcn,
        "FCN-8s on the reduced-width VGG-16 backbone, from fcn_classifier", ("04",), "val_miou", 0.77),
    "fcis": CheckpointSpec(
        lambda: FCIS(num_classes=len(CLASSES), k=3, mask_size=12), _train_fcis,
        "FCIS head (k = 3) on the FCN-8s backbone, from fcn8s", ("09",), "val_mask_ap_gt_boxes", 0.27),
    "deeplab_pyramid": _scheme_spec("deeplab_pyramid", 0.56, "v3 Fig. 2(a) image pyramid (scales 1, 0.75, 0.5, max-fused)"),
    "deeplab_encdec": _scheme_spec("deeplab_encdec", 0.37, "v3 Fig. 2(b) encoder-decoder (stride 32 down, skips up to 4)"),
    "deeplab_deeper": _scheme_spec("deeplab_deeper", 0.50, "v3 Fig. 2(c) deeper with atrous (3 residual blocks at rates 4, 8, 16)"),
    "deeplab_spp": _scheme_spec("deeplab_spp", 0.43, "v3 Fig. 2(d) ASPP v3 (1x1, rates 3, 6, 9, image pooling) at stride 8"),
    "deeplab_spp_os16": _scheme_spec("deeplab_spp_os16", 0.38, "ASPP v3 trained at stride 16 (rates 2, 3, 4)"),
    "mask_rcnn": CheckpointSpec(
        build_mask_rcnn, _train_mask_rcnn_recipe(MASK_RCNN_ITERATIONS),
        "tiny Mask R-CNN (1.6 M parameters, FPN strides 8-32, our RoIAlign), 3,000 iterations", ("11",),
        "val_mask_ap", 0.33, half=True),
    "mrcnn_align": CheckpointSpec(
        lambda: build_study_net("mrcnn_align"), _train_mask_rcnn_recipe(ROI_STUDY_ITERATIONS),
        "the study's RoIAlign Mask R-CNN, seed 0, 1,000 iterations", ("11",), "val_mask_ap", 0.26, half=True),
    "mrcnn_pool": CheckpointSpec(
        lambda: build_study_net("mrcnn_pool"), _train_mask_rcnn_recipe(ROI_STUDY_ITERATIONS),
        "the same with RoIPool in both heads (same seed, data, iterations)", ("11",), "val_mask_ap", 0.15, half=True),
    "lse": CheckpointSpec(
        build_lse_mask_rcnn, _train_lse_recipe(LSE_ITERATIONS),
        "LSE in miniature: the tiny Mask R-CNN on 24 shape classes (masks of 18), agnostic / transfer / oracle "
        f"mask heads (+ 2 transfer variants), seed 0, {LSE_ITERATIONS:,} iterations", ("12",), "lse_val_mask_ap", 0.2,
        half=True),
    "lk_gcn15": _lk_spec("lk_gcn15", 0.31, "Large Kernel Matters' Fig. 3 framework: GCN k = 15 head on the course backbone at stride 8"),
}


# -- files -----------------------------------------------------------------------------------------

def checkpoint_path(name: str) -> Path:
    """Where checkpoint ``name`` lives: ``data/checkpoints/<name>.pt``."""
    check_choice(name, "name", tuple(CHECKPOINTS))
    return data_dir() / "checkpoints" / f"{name}.pt"


def save_checkpoint(model: nn.Module, path: str | Path, meta: dict | None = None, half: bool = False) -> Path:
    """Save ``model``'s weights and a metadata dict of plain numbers and strings; ``half`` stores
    floating tensors as float16 (``load_state_dict`` copies them back into float32 parameters)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().clone().contiguous()
             for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": dict(meta or {})}, path)
    return path


def checksums_path() -> Path:
    """``data/checkpoints/SHA256SUMS``: one ``<sha256>  <name>.pt`` line per shipped checkpoint."""
    return data_dir() / "checkpoints" / "SHA256SUMS"


def file_sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file."""
    import hashlib
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def recorded_checksums() -> dict[str, str]:
    """{file name: sha256} from :func:`checksums_path` (empty if the file does not exist)."""
    path = checksums_path()
    if not path.exists():
        return {}
    return {f: h for h, f in (line.split() for line in path.read_text().splitlines() if line.strip())}


def record_checksum(name: str) -> str:
    """Write checkpoint ``name``'s current SHA-256 into :func:`checksums_path` (sorted by file name)."""
    sums = recorded_checksums()
    sums[f"{name}.pt"] = file_sha256(checkpoint_path(name))
    checksums_path().write_text("".join(f"{h}  {f}\n" for f, h in sorted(sums.items())))
    return sums[f"{name}.pt"]


def load_checkpoint(name: str) -> nn.Module:
    """Build model ``name`` and load its shipped weights (``weights_only=True``); eval mode. The file
    must match its recorded SHA-256 (``data/checkpoints/SHA256SUMS``; ``./course retrain`` updates it)."""
    spec = CHECKPOINTS[check_choice(name, "name", tuple(CHECKPOINTS))]
    path = checkpoint_path(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `./course retrain {name}`")
    want = recorded_checksums().get(path.name)
    if want is None or file_sha256(path) != want:
        raise ValueError(f"{path} does not match its checksum in {checksums_path()}: restore it with git "
                         f"(`git checkout -- data/checkpoints/{path.name}`) or run `./course retrain {name}`")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = spec.build()
    model.load_state_dict(blob["state_dict"])
    model.meta = blob.get("meta", {})
    return model.eval()


def checkpoint_metric(name: str, model: nn.Module | None = None) -> float:
    """Checkpoint ``name``'s promised metric, measured on ``model`` (default: the shipped file)."""
    spec = CHECKPOINTS[check_choice(name, "name", tuple(CHECKPOINTS))]
    return METRICS[spec.metric](load_checkpoint(name) if model is None else model.eval())


def train_checkpoint(name: str, progress: bool = True) -> nn.Module:
    """Train checkpoint ``name``'s model from its seed with its shipped recipe (nothing written);
    ``model.meta`` holds what the recipe reports (epochs, seconds, val mIoU, ...)."""
    spec = CHECKPOINTS[check_choice(name, "name", tuple(CHECKPOINTS))]
    seed_everything(0)
    model = spec.build()
    model.meta = spec.train(model, progress)
    return model


def retrain(name: str, progress: bool = True) -> Path:
    """Train checkpoint ``name`` from its seed and overwrite the shipped file."""
    model = train_checkpoint(name, progress)
    path = save_checkpoint(model, checkpoint_path(name), model.meta, half=CHECKPOINTS[name].half)
    record_checksum(name)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="./course retrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="checkpoints to retrain")
    parser.add_argument("--all", action="store_true", help="retrain every checkpoint")
    parser.add_argument("--list", action="store_true", help="list the checkpoints")
    args = parser.parse_args(argv)
    if args.list or not (args.names or args.all):
        for name, spec in CHECKPOINTS.items():
            print(f"{name:12s} lessons {','.join(spec.lessons):6s} {spec.metric} >= {spec.promise:<5} "
                  f"{spec.description}")
        return 0
    for name in (list(CHECKPOINTS) if args.all else args.names):
        check_choice(name, "name", tuple(CHECKPOINTS))
        path = retrain(name)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0

