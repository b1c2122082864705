"""Face boxes (x, y, w, h) and how they overlap: what every detector and the tracker compare."""
from __future__ import annotations

Box = tuple[int, int, int, int]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes: 1 for the same box, 0 for boxes apart."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = min(ax1, bx1) - max(a[0], b[0])
    ih = min(ay1, by1) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def overlap_of_smaller(a: Box, b: Box) -> float:
    """The share of the smaller box that the other covers: 1 when one box holds the other. Finds
    a loose box around a face already found, which IoU (diluted by the size difference) misses."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / float(max(1, min(a[2] * a[3], b[2] * b[3])))


def nms(cands: list[tuple[Box, float, str]], thr: float) -> list[tuple[Box, float, str]]:
    """Non-maximum suppression: the best-scoring candidates, none overlapping another by `thr` IoU."""
    out: list[tuple[Box, float, str]] = []
    for c in sorted(cands, key=lambda c: -c[1]):
        if all(iou(c[0], o[0]) < thr for o in out):
            out.append(c)
    return out
