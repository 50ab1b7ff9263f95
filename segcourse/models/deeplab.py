"""DeepLab and friends, small enough for a laptop CPU (lessons 06-07; lesson 08's GCN is in
:mod:`segcourse.models.gcn`, the shared backbone in :mod:`segcourse.models.common`).

* Lesson 06: VGG-16 made atrous (:func:`atrous_vgg16`): pools that would take the output stride
  past 8 or 16 keep stride 1 and every later layer's rate doubles; the slide's TF-slim version
  (pool4 = 1 x 1 max-pool, stride 1, i.e. the identity; conv5_1..3 at rate 2) and DeepLab-LargeFOV as
  its released Caffe prototxt defines it (:func:`deeplab_largefov`); costs of output stride 32 / 16 / 8
  (:func:`segcourse.models.common.feature_costs`).
* Lesson 07: ASPP as in DeepLab v2 (:class:`ASPPv2`: parallel 3 x 3 branches at rates 6/12/18/24,
  class scores summed) and v3 (:class:`ASPP`, :class:`DeepLabV3Head`: 1 x 1 + three atrous 3 x 3 +
  image-level pooling, concatenated, batch norm, 1 x 1 projection; layer for layer the same as
  ``torchvision.models.segmentation.deeplabv3``'s, so its weights load unchanged); the four ways
  of v3's Figure 2 to use context, on one small backbone (:data:`SCHEMES`).

Every model maps images (N, 3, H, W) float to class scores (N, num_classes, H, W) unless said.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
import torch.nn.functional as F

from .._validate import as_tensor, check_choice, check_float, check_int
from ..ops.receptive_field import receptive_fields
from .common import SmallBackbone, Segmenter, classifier_head, conv_stage, kaiming_, upsample_to
from .gcn import GCNNet
from .vgg import VGG16_LAYOUT, VGG16_WIDTHS

__all__ = ["POOL_MODES", "atrous_vgg16", "deeplab_largefov", "receptive_field_table", "ASPPv2", "ASPP",
           "ASPPPooling", "DeepLabV3Head", "aspp_branch_fields", "ImagePyramidNet", "EncoderDecoderNet",
           "DeeperAtrousNet", "SPPNet", "SPPv2Net", "with_output_stride", "SCHEMES", "build_scheme"]

_VGG16_BLOCKS = tuple(zip(VGG16_WIDTHS, VGG16_LAYOUT))


#: How a pool whose stride is removed is replaced (see :func:`atrous_vgg16`).
POOL_MODES = ("exact", "deeplab", "identity")


def atrous_vgg16(output_stride: int = 8, pool: str = "deeplab", width_divisor: int = 16, *,
                 compensate: bool = True, fc6: bool = True, fc6_rate: int = 1, upto: str | None = None,
                 generator: torch.Generator | None = None) -> nn.Sequential:
    """VGG-16's convolutions (1/``width_divisor`` of the channels), made atrous for ``output_stride``.

    Pools 1-5 are 2 x 2 max-pools with stride 2 while the running stride stays <= ``output_stride``
    (32: all five; 16: pool5 loses its stride; 8: pool4 and pool5). A pool that loses its stride
    becomes, by ``pool``:

    * ``"exact"``: a 2 x 2 max-pool with stride 1 and dilation = the current rate. With
      ``compensate`` every later layer reads its inputs as far apart as before, so the network
      computes *exactly* the stride-32 network's values, at every position instead of every 4th
      (tested: the algorithme à trous). Each such pool trims ``rate`` rows/columns at the end.
    * ``"deeplab"``: a 3 x 3 max-pool, stride 1, padding 1 (DeepLab's released prototxt).
    * ``"identity"``: a 1 x 1 max-pool with stride 1, the slide's TF-slim code: it does nothing.

    compensate: multiply the rate (dilation) of every later layer by 2 per removed stride (conv5_x
    at rate 2 for output stride 8, fc6 at rate 4 x ``fc6_rate``); False keeps rate 1 and the fields
    shrink. fc6: append fc6 (3 x 3 at rate ``fc6_rate`` x the multiplier, 1024/``width_divisor``
    channels, DeepLab-LargeFOV's shape) and fc7 (1 x 1). upto: stop after this layer name.
    Layers are named conv1_1, relu1_1, ..., pool5, fc6, relu6, fc7, relu7; weights are drawn from
    ``generator`` in the same order for every variant (same generator seed: same weights).
    """
    output_stride = check_choice(output_stride, "output_stride", (8, 16, 32))
    check_choice(pool, "pool", POOL_MODES)
    wd = check_int(width_divisor, "width_divisor", min_value=1, max_value=64)
    fc6_rate = check_int(fc6_rate, "fc6_rate", min_value=1)
    layers, cin, stride, rate = [], 3, 1, 1
    for b, (width, n) in enumerate(_VGG16_BLOCKS, start=1):
        w = max(width // wd, 1)
        for i in range(1, n + 1):
            conv = nn.Conv2d(cin, w, 3, padding=rate, dilation=rate)
            layers += [(f"conv{b}_{i}", kaiming_(conv, generator)), (f"relu{b}_{i}", nn.ReLU(inplace=True))]
            cin = w
        if stride * 2 <= output_stride:
            layers.append((f"pool{b}", nn.MaxPool2d(2, 2)))
            stride *= 2
        else:
            layers.append((f"pool{b}", {"exact": lambda: nn.MaxPool2d(2, 1, dilation=rate),
                                        "deeplab": lambda: nn.MaxPool2d(3, 1, 1),
                                        "identity": lambda: nn.MaxPool2d(1, 1)}[pool]()))
            rate *= 2 if compensate else 1
    if fc6:
        r = rate * fc6_rate
        w = max(1024 // wd, 1)
        layers += [("fc6", kaiming_(nn.Conv2d(cin, w, 3, padding=r, dilation=r), generator)),
                   ("relu6", nn.ReLU(inplace=True)),
                   ("fc7", kaiming_(nn.Conv2d(w, w, 1), generator)), ("relu7", nn.ReLU(inplace=True))]
    if upto is not None:
        names = [n for n, _ in layers]
        check_choice(upto, "upto", names)
        layers = layers[:names.index(upto) + 1]
    return nn.Sequential(OrderedDict(layers)).eval()


def deeplab_largefov(num_classes: int = 21, width_divisor: int = 1, *,
                     generator: torch.Generator | None = None) -> nn.Sequential:
    """DeepLab-LargeFOV (v1, arXiv:1412.7062) as its released Caffe ``test.prototxt`` defines it.

    pool1-3: 3 x 3 max-pools, stride 2, pad 1 (Caffe rounds up: ``ceil_mode``); pool4 and pool5:
    3 x 3, stride 1, pad 1; conv5_1..3: rate ("hole") 2, pad 2; pool5a: 3 x 3 *average* pool,
    stride 1, pad 1; fc6: 3 x 3 at rate 12, pad 12, 1024 channels; fc7: 1 x 1, 1024; fc8: 1 x 1 to
    the classes. Output stride 8 (a 321 x 321 crop gives 41 x 41 scores). Dropout after fc6, fc7.
    """
    num_classes = check_int(num_classes, "num_classes", min_value=2)
    wd = check_int(width_divisor, "width_divisor", min_value=1, max_value=64)
    layers, cin = [], 3
    for b, (width, n) in enumerate(_VGG16_BLOCKS, start=1):
        w, rate = max(width // wd, 1), (2 if b == 5 else 1)
        for i in range(1, n + 1):
            conv = nn.Conv2d(cin, w, 3, padding=rate, dilation=rate)
            layers += [(f"conv{b}_{i}", kaiming_(conv, generator)), (f"relu{b}_{i}", nn.ReLU(inplace=True))]
            cin = w
        layers.append((f"pool{b}", nn.MaxPool2d(3, 2 if b <= 3 else 1, 1, ceil_mode=True)))
    w = max(1024 // wd, 1)
    layers += [("pool5a", nn.AvgPool2d(3, 1, 1, ceil_mode=True)),
               ("fc6", kaiming_(nn.Conv2d(cin, w, 3, padding=12, dilation=12), generator)),
               ("relu6", nn.ReLU(inplace=True)), ("drop6", nn.Dropout(0.5)),
               ("fc7", kaiming_(nn.Conv2d(w, w, 1), generator)),
               ("relu7", nn.ReLU(inplace=True)), ("drop7", nn.Dropout(0.5)),
               ("fc8", kaiming_(nn.Conv2d(w, num_classes, 1), generator))]
    return nn.Sequential(OrderedDict(layers)).eval()


def receptive_field_table(models: dict, input_size: int | None = None) -> dict:
    """Receptive field after each layer, for several variants side by side.

    models: {variant name: nn.Module}. Returns {layer name: {variant: (field, jump, out_size)}}
    in layer order (a layer missing from a variant is missing from its dict), from
    ``segcourse.ops.receptive_field.receptive_fields`` (which handles dilation: k_eff = d (k - 1) + 1).
    """
    if not isinstance(models, dict) or not models:
        raise TypeError("models: expected a non-empty dict {name: nn.Module}")
    table: dict = {}
    for variant, m in models.items():
        for rec in receptive_fields(m, input_size):
            table.setdefault(rec.name, {})[variant] = (rec.size, rec.jump, rec.out_size)
    return table


# ------------------------------------------------------------------------ lesson 07: ASPP

class ASPPv2(nn.Module):
    """DeepLab v2's ASPP (arXiv:1606.00915, ASPP-L): one branch per rate, each fc6 (3 x 3 at that
    rate) -> ReLU -> dropout -> fc7 (1 x 1) -> ReLU -> dropout -> fc8 (1 x 1 to class scores);
    the branches' scores are *summed*. forward: (N, C, h, w) -> (N, num_classes, h, w).
    """

    def __init__(self, in_channels: int, num_classes: int, rates=(6, 12, 18, 24), width: int = 1024):
        super().__init__()
        cin = check_int(in_channels, "in_channels", min_value=1)
        k = check_int(num_classes, "num_classes", min_value=2)
        w = check_int(width, "width", min_value=1)
        self.rates = tuple(check_int(r, "rates", min_value=1) for r in rates)
        self.branches = nn.ModuleList(
            nn.Sequential(OrderedDict([
                ("fc6", nn.Conv2d(cin, w, 3, padding=r, dilation=r)), ("relu6", nn.ReLU()), ("drop6", nn.Dropout(0.5)),
                ("fc7", nn.Conv2d(w, w, 1)), ("relu7", nn.ReLU()), ("drop7", nn.Dropout(0.5)),
                ("fc8", nn.Conv2d(w, k, 1))]))
            for r in self.rates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_tensor(x, "x", ndim=4, kind="float")
        return torch.stack([b(x) for b in self.branches]).sum(0)


def _conv_bn_relu(cin: int, cout: int, k: int = 1, rate: int = 1) -> nn.Sequential:
    pad = rate * (k - 1) // 2
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad, dilation=rate, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class ASPPPooling(nn.Sequential):
    """v3's image-level branch: global average pool -> 1 x 1 conv -> BN -> ReLU, then broadcast
    back to the map's size (bilinear from 1 x 1 = a constant map)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        return F.interpolate(super().forward(x), size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """DeepLab v3's ASPP (arXiv:1706.05587, Sec. 3.3): five parallel branches on the same map, a
    1 x 1 conv, three 3 x 3 convs at ``rates`` (each conv -> BN -> ReLU) and image-level pooling
    (:class:`ASPPPooling`), concatenated (5 x ``out_channels``), projected by 1 x 1 conv -> BN ->
    ReLU -> dropout 0.5. forward: (N, C, h, w) -> (N, out_channels, h, w).

    Same sub-modules, names and order as ``torchvision.models.segmentation.deeplabv3.ASPP``: its
    ``state_dict`` loads unchanged (``tests/test_deeplab.py`` checks equal outputs). The paper
    uses rates (6, 12, 18) at output stride 16 and doubles them at output stride 8; torchvision's
    DeepLabHead uses (12, 24, 36) with its output-stride-8 ResNets.
    """

    def __init__(self, in_channels: int, rates=(6, 12, 18), out_channels: int = 256):
        super().__init__()
        cin = check_int(in_channels, "in_channels", min_value=1)
        cout = check_int(out_channels, "out_channels", min_value=1)
        self.rates = tuple(check_int(r, "rates", min_value=1) for r in rates)
        self.convs = nn.ModuleList([_conv_bn_relu(cin, cout)] + [_conv_bn_relu(cin, cout, 3, r) for r in self.rates]
                                   + [ASPPPooling(cin, cout)])
        self.project = nn.Sequential(nn.Conv2d(len(self.convs) * cout, cout, 1, bias=False),
                                     nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class DeepLabV3Head(nn.Sequential):
    """torchvision's DeepLab v3 head: :class:`ASPP` -> 3 x 3 conv (256) -> BN -> ReLU -> 1 x 1 conv
    to class scores. The paper's head has no 3 x 3 conv (ASPP's projection, then the 1 x 1 logits);
    torchvision adds it. Loads ``deeplabv3_resnet50(...).classifier.state_dict()`` unchanged."""

    def __init__(self, in_channels: int, num_classes: int, rates=(12, 24, 36), width: int = 256):
        w = check_int(width, "width", min_value=1)
        super().__init__(ASPP(in_channels, rates, w), nn.Conv2d(w, w, 3, padding=1, bias=False),
                         nn.BatchNorm2d(w), nn.ReLU(), nn.Conv2d(w, check_int(num_classes, "num_classes", min_value=2), 1))


def aspp_branch_fields(backbone: nn.Module, rates, input_size: int | None = None, kernel: int = 3) -> list[dict]:
    """Receptive field (input pixels) of each ASPP branch on top of ``backbone`` (a module whose
    layers run in registration order, e.g. :func:`atrous_vgg16`): a ``kernel`` x ``kernel`` conv at
    each rate adds ``rate (kernel - 1) x jump`` pixels, the 1 x 1 branch adds none, the image-pooling
    branch sees the whole image. Returns [{"branch", "rate", "field", "jump"}].
    """
    base = receptive_fields(backbone, input_size)[-1]
    cin = [m for m in backbone.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
    rows = [{"branch": "1x1", "rate": 1, "field": base.size, "jump": base.jump}]
    for r in rates:
        r = check_int(r, "rates", min_value=1)
        rec = receptive_fields(nn.Sequential(backbone, nn.Conv2d(cin, 1, kernel, padding=r * (kernel - 1) // 2,
                                                                 dilation=r)), input_size)[-1]
        rows.append({"branch": f"3x3 rate {r}", "rate": r, "field": rec.size, "jump": rec.jump})
    rows.append({"branch": "image pooling", "rate": None, "field": input_size, "jump": base.jump})
    return rows


# ------------------------------------------------------------------------ lesson 07: v3's Figure 2 at course scale

class ImagePyramidNet(Segmenter):
    """(a) Image pyramid: one network (shared weights) on the image at several ``scales``; each
    output upsampled to full size, fused by a per-pixel max over scales (DeepLab v2's MSC fusion)."""

    def __init__(self, num_classes: int = 6, widths=(16, 24, 32, 48, 64), output_stride: int = 8,
                 scales=(1.0, 0.75, 0.5), head_width: int = 64):
        super().__init__()
        self.scales = tuple(check_float(s, "scales", min_value=0.1, max_value=2.0) for s in scales)
        self.backbone = SmallBackbone(widths, output_stride)
        self.head = classifier_head(self.backbone.widths[-1], check_int(num_classes, "num_classes", min_value=2), head_width)

    def _forward(self, x):
        size, outs = x.shape[-2:], []
        for s in self.scales:
            xs = x if s == 1.0 else F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False,
                                                  antialias=True)
            outs.append(upsample_to(self.head(self.backbone(xs)[-1]), size))
        return torch.stack(outs).amax(0)


class EncoderDecoderNet(Segmenter):
    """(b) Encoder-decoder: the backbone down to stride 32, then a decoder that upsamples x2,
    concatenates the encoder's map of that stride and convolves (3 x 3 -> BN -> ReLU), back to
    stride 4; 1 x 1 classifier; bilinear x4."""

    def __init__(self, num_classes: int = 6, widths=(16, 24, 32, 48, 64), decoder_width: int = 32):
        super().__init__()
        self.backbone = SmallBackbone(widths, output_stride=32)
        w, dw = self.backbone.widths, check_int(decoder_width, "decoder_width", min_value=1)
        self.decode = nn.ModuleList([nn.Sequential(*conv_stage(w[4] + w[3], dw, 1, 1)),
                                     nn.Sequential(*conv_stage(dw + w[2], dw, 1, 1)),
                                     nn.Sequential(*conv_stage(dw + w[1], dw, 1, 1))])
        self.classifier = nn.Conv2d(dw, check_int(num_classes, "num_classes", min_value=2), 1)

    def _forward(self, x):
        feats = self.backbone(x)
        y = feats[4]
        for dec, skip in zip(self.decode, (feats[3], feats[2], feats[1])):
            y = dec(torch.cat([upsample_to(y, skip.shape[-2:]), skip], 1))
        return upsample_to(self.classifier(y), x.shape[-2:])


class _ResidualAtrous(nn.Module):
    def __init__(self, width: int, rate: int, n: int = 2):
        super().__init__()
        self.body = nn.Sequential(*conv_stage(width, width, n, rate))

    def forward(self, x):
        return x + self.body(x)


class DeeperAtrousNet(Segmenter):
    """(c) Going deeper with atrous convolution: the backbone at ``output_stride``, then cascaded
    residual blocks (two 3 x 3 convs each) whose rates grow (``cascade_rates``, multiplied by the
    backbone's rate so that they read the map as a stride-32 network would), like v3's block5-7;
    1 x 1 classifier; bilinear to full size."""

    def __init__(self, num_classes: int = 6, widths=(16, 24, 32, 48, 64), output_stride: int = 8,
                 cascade_rates=(1, 2, 4), head_width: int = 64):
        super().__init__()
        self.backbone = SmallBackbone(widths, output_stride)
        w = self.backbone.widths[-1]
        self.cascade = nn.Sequential(*[_ResidualAtrous(w, check_int(r, "cascade_rates", min_value=1) * self.backbone.rate)
                                       for r in cascade_rates])
        self.head = classifier_head(w, check_int(num_classes, "num_classes", min_value=2), head_width)

    def _forward(self, x):
        return upsample_to(self.head(self.cascade(self.backbone(x)[-1])), x.shape[-2:])


class SPPNet(Segmenter):
    """(d) Spatial pyramid pooling: the backbone at ``output_stride`` and v3's :class:`ASPP`, then a
    1 x 1 classifier (v3's head); bilinear to full size. Default rates (3, 6, 9) on the 16 x 16 map
    of a 128 x 128 image at output stride 8: the same share of valid taps as v3's (6, 12, 18) on its
    33 x 33 map (``segcourse.ops.atrous.valid_tap_stats``: 0.77 / 0.56 / 0.39 vs 0.77 / 0.57 / 0.41)."""

    def __init__(self, num_classes: int = 6, widths=(16, 24, 32, 48, 64), output_stride: int = 8,
                 rates=(3, 6, 9), aspp_width: int = 64, dense_pools_to: int | None = None):
        super().__init__()
        self.backbone = SmallBackbone(widths, output_stride, dense_pools_to=dense_pools_to)
        self.aspp = ASPP(self.backbone.widths[-1], rates, check_int(aspp_width, "aspp_width", min_value=1))
        self.classifier = nn.Conv2d(aspp_width, check_int(num_classes, "num_classes", min_value=2), 1)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores at the output stride, before the bilinear upsampling: (N, 3, H, W) ->
        (N, classes, H / output_stride, W / output_stride)."""
        return self.classifier(self.aspp(self.backbone(x)[-1]))

    def _forward(self, x):
        return upsample_to(self.scores(x), x.shape[-2:])


class SPPv2Net(Segmenter):
    """(d) with DeepLab v2's ASPP instead of v3's: the backbone at ``output_stride``, then
    :class:`ASPPv2` (one 3 x 3 -> 1 x 1 -> 1 x 1 branch per rate, class scores *summed*, no batch
    norm, no image pooling); bilinear to full size. Default rates (3, 6, 9, 12): v3's course rates
    plus v2's fourth, wider branch."""

    def __init__(self, num_classes: int = 6, widths=(16, 24, 32, 48, 64), output_stride: int = 8,
                 rates=(3, 6, 9, 12), aspp_width: int = 64):
        super().__init__()
        self.backbone = SmallBackbone(widths, output_stride)
        self.aspp = ASPPv2(self.backbone.widths[-1], check_int(num_classes, "num_classes", min_value=2), rates,
                           check_int(aspp_width, "aspp_width", min_value=1))

    def _forward(self, x):
        return upsample_to(self.aspp(self.backbone(x)[-1]), x.shape[-2:])


def with_output_stride(model: SPPNet, output_stride: int, keep_pools: bool = True) -> SPPNet:
    """The same weights run at another output stride (v3's "train at 16, infer at 8"): a new
    :class:`SPPNet` whose backbone loses the pools' stride (or gains it) for ``output_stride`` and
    whose ASPP rates are scaled by ``model's stride / output_stride``, so every tap reads the same
    image offset as before; the state dict loads unchanged (pools carry no weights). Returns it in
    eval mode.

    keep_pools: a pool that loses its stride stays as a stride-1 max-pool (:class:`DenseMaxPool2d`),
    so the backbone's output at even positions is exactly the trained net's (the algorithme à
    trous; v3's ResNet has strided convolutions, which the same switch keeps exact). False drops
    those pools: the layers after them then see values they were not trained on (unpooled ones)."""
    if not isinstance(model, SPPNet):
        raise TypeError(f"model: expected an SPPNet, got {type(model).__name__}")
    output_stride = check_choice(output_stride, "output_stride", (8, 16, 32))
    if not isinstance(keep_pools, bool):
        raise TypeError(f"keep_pools: expected True or False, got {type(keep_pools).__name__}")
    old = model.backbone.output_stride
    rates = []
    for r in model.aspp.rates:
        if (r * old) % output_stride:
            raise ValueError(f"output_stride: rate {r} at stride {old} has no integer rate at stride {output_stride}")
        rates.append(r * old // output_stride)
    trained = model.backbone.dense_pools_to
    dense = trained if keep_pools and trained > output_stride else None
    cls = model.classifier
    new = SPPNet(cls.out_channels, model.backbone.widths, output_stride, tuple(rates), cls.in_channels, dense)
    new.load_state_dict(model.state_dict())
    return new.eval()


# ------------------------------------------------------------------------ lesson 08: Large Kernel Matters


#: The schemes of v3's Figure 2 (a-d) and the GCN segmenter, all on :class:`SmallBackbone`.
SCHEMES = {"image_pyramid": ImagePyramidNet, "encoder_decoder": EncoderDecoderNet,
           "deeper_atrous": DeeperAtrousNet, "spp": SPPNet, "spp_v2": SPPv2Net, "gcn": GCNNet}


def build_scheme(name: str, num_classes: int = 6, seed: int = 0, **kwargs) -> nn.Module:
    """One of :data:`SCHEMES`, initialised from torch's generator seeded with ``seed``."""
    check_choice(name, "name", tuple(SCHEMES))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_int(seed, "seed", min_value=0))
        return SCHEMES[name](num_classes=num_classes, **kwargs)
