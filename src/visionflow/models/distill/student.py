"""The student detector: MobileNetV2 features at strides 8, 16 and 32, merged top-down
(FPN-lite) into one stride-8 map, and a CenterNet head on it: a heatmap per class (object
centres), the box size and the sub-cell offset of each centre.

CenterNet needs no anchors and no NMS: peaks of the heatmap that are the maximum of their
3x3 neighbourhood are the detections, so the whole decode (peaks, top-k, boxes) is a handful
of tensor ops that export into the ONNX graph, and the exported model outputs final boxes.
"""

from __future__ import annotations

from .backbone import _torch, build_mobilenetv2, pretrained_mobilenetv2

STRIDE = 8
TOP_K = 100
HEAD_CHANNELS = 96


def build_student(num_classes: int, *, backbone: str | None = "mobilenetv2",
                  width: float = 1.0, head_channels: int = HEAD_CHANNELS, top_k: int = TOP_K):
    """A CenterNet-style detector on MobileNetV2. backbone: a registry name or a folder of
    the pretrained TF.js weights, or None for random initialisation (tests, experiments);
    width: the channel multiplier of a randomly initialised backbone."""
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional
    features = pretrained_mobilenetv2(backbone) if backbone else build_mobilenetv2(width)

    def sep(cin, cout):
        """Depthwise-separable 3x3: cheap on CPU."""
        return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
                             nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                             nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True))

    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            c8, c16, c32 = features.channels
            h = head_channels
            self.backbone = features
            self.lat32 = nn.Conv2d(c32, h, 1)
            self.lat16 = nn.Conv2d(c16, h, 1)
            self.lat8 = nn.Conv2d(c8, h, 1)
            self.smooth16 = sep(h, h)
            self.smooth8 = sep(h, h)
            self.heat = nn.Sequential(sep(h, h), nn.Conv2d(h, num_classes, 1))
            self.size = nn.Sequential(sep(h, h), nn.Conv2d(h, 4, 1))  # w, h, dx, dy
            # CenterNet's prior: heatmap starts near 0.01 so the focal loss starts sane
            nn.init.constant_(self.heat[-1].bias, -4.6)
            self.num_classes = num_classes
            self.top_k = top_k

        def forward(self, x):
            """x: (B, 3, H, W) RGB in 0..1 -> heatmap logits (B, C, H/8, W/8) and
            size/offset (B, 4, H/8, W/8)."""
            return self.head(*self.backbone.lower(x))

        def head(self, f8, f16):
            """The trainable part, from the frozen stride-8 and stride-16 features."""
            p = self.lat32(self.backbone.upper(f16))
            p = self.smooth16(self.lat16(f16) + F.interpolate(p, scale_factor=2.0,
                                                              mode="nearest"))
            p = self.smooth8(self.lat8(f8) + F.interpolate(p, scale_factor=2.0,
                                                           mode="nearest"))
            return self.heat(p), self.size(p)

        def decode(self, heat_logits, size):
            """Heatmap peaks -> boxes (B, K, 4) xyxy in 0..1 of the input, scores (B, K),
            labels (B, K) int64; K = min(top_k, cells)."""
            b, c, h, w = heat_logits.shape
            heat = torch.sigmoid(heat_logits)
            peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat).to(heat.dtype)
            k = min(self.top_k, c * h * w)
            scores, idx = torch.topk(peaks.reshape(b, -1), k)
            labels = torch.div(idx, h * w, rounding_mode="floor")
            cell = idx - labels * (h * w)
            ys = torch.div(cell, w, rounding_mode="floor")
            xs = cell - ys * w
            reg = torch.gather(size.reshape(b, 4, h * w), 2,
                               cell.unsqueeze(1).expand(b, 4, k))  # (B, 4, K)
            cx = (xs.to(heat.dtype) + reg[:, 2]) / w
            cy = (ys.to(heat.dtype) + reg[:, 3]) / h
            bw = reg[:, 0].clamp(min=0) / w
            bh = reg[:, 1].clamp(min=0) / h
            boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
            return boxes.clamp(0, 1), scores, labels

    return Student()


def exportable(model):
    """A module whose forward is image -> (boxes, scores, labels): what ONNX exports."""
    torch = _torch()

    class Exported(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            heat, size = self.model(x)
            boxes, scores, labels = self.model.decode(heat, size)
            return boxes, scores, labels

    return Exported().eval()
