"""The Pascal VOC colour palette, a kit shared by voc-seg and cityscapes (whose colour masks
use it for classes without a colour of their own), so that neither imports the other."""

from __future__ import annotations

VOID = 255                     # the palette index of VOC's "void" (unlabelled border) pixels
VOID_COLOR = (224, 224, 192)


def voc_colormap(n: int = 256) -> list[tuple[int, int, int]]:
    """The VOC palette: index i -> the bit-interleaved color VOC's devkit uses."""
    out = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    out[VOID] = VOID_COLOR
    return out
