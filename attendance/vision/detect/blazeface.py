"""BlazeFace, a face detector for stills: large faces whatever their mask, tilt or turn.

Why: dlib's HOG filters (and our masked-face filter) want an upright, roughly frontal face. In
photos (selfies, product shots, close-ups: masks/scenes) many masked faces are turned,
tilted, under a cap or half cut by the image edge, and HOG misses them. BlazeFace (MediaPipe's
full-range face detector, a small single-shot CNN on a 256 px input, trained on varied faces)
finds most of those, cheaply (docs/vision.md). It sees the whole image at 256 px, so faces
smaller than ~1/12 of the image's longer side are beyond it: it is for stills, not the live
office frames, where faces are 35-60 px in 1080p (detect.DetectorConfig.use_blazeface).

The network is the Human library's `blazeface` (npm `@vladmandic/human`, MIT; fetched at
install time with FaceRes, attendance.vision.runtime.model_files), rebuilt in ONNX by tfjs_onnx. Decoding as
the library does: 896 anchors (16x16 cells x 2 at stride 16, 8x8 x 6 at stride 32), box centre
offset and size in input pixels, a sigmoid score; the image is letterboxed (black) to a square
first. Faces scoring at least `min_score` (MediaPipe's default, 0.5) are kept, overlaps
suppressed."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from attendance.vision.detect.boxes import Box, iou
from attendance.vision.runtime import tfjs_onnx
from attendance.vision.runtime.tfjs_onnx import TfjsGraph

SIZE = 256
MIN_SCORE = 0.5
# A second look with the image at half size, centred on a black square twice its longer side,
# finds masked faces the first look misses. Its boxes are looser and it also takes dogs' faces
# and shifted copies of faces for faces at scores up to ~0.68 (groups/dlib_annotated), so only
# its faces scoring at least ZOOM_OUT_MIN_SCORE are kept (what each look found: docs/vision.md).
ZOOM_OUT = 2.0
ZOOM_OUT_MIN_SCORE = 0.7
# TF.js output node -> shape: scores and boxes at stride 16 (512 anchors) and 32 (384).
OUTPUTS: dict[str, list[str | int]] = {
    "Identity": ["n", 512, 1], "Identity_1": ["n", 384, 1], "Identity_2": ["n", 512, 16], "Identity_3": ["n", 384, 16]}


def anchors() -> np.ndarray:
    """(896, 2) anchor centres in input pixels, in the order the network's outputs list them."""
    out = []
    for stride, per_cell in ((16, 2), (32, 6)):
        cells = SIZE // stride
        for gy in range(cells):
            for gx in range(cells):
                out += [(stride * (gx + 0.5), stride * (gy + 0.5))] * per_cell
    return np.array(out, np.float32)


def build_onnx(g: TfjsGraph) -> onnx.ModelProto:
    """uint8 RGB (N, 256, 256, 3) -> the four raw outputs (scores' logits, boxes) by stride."""
    inits = [numpy_helper.from_array(np.array(1 / 127.5, np.float32), "scale"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    prep = [helper.make_node("Cast", ["image"], ["image_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["image_f", "scale"], ["scaled"]),
            helper.make_node("Sub", ["scaled", "one"], ["centred"]),          # [-1, 1]
            helper.make_node("Transpose", ["centred"], ["x"], perm=[0, 3, 1, 2])]
    return tfjs_onnx.build_onnx(g, OUTPUTS, prep, inits,
                                helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", SIZE, SIZE, 3]),
                                "blazeface")


class BlazeFace:
    def __init__(self, directory: Path | None = None, *, threads: int = 1):
        self.session = tfjs_onnx.fetched_session("blazeface", build_onnx, directory, threads)
        self.anchors = anchors()

    def detect(self, rgb: np.ndarray, min_score: float = MIN_SCORE, nms_iou: float = 0.3,
               zoom_out: float = 1.0) -> list[tuple[Box, float]]:
        """Faces in an RGB image as ((x, y, w, h), score), best first. With `zoom_out` > 1 the
        image is shown smaller, centred on a black square `zoom_out` times its longer side (see
        ZOOM_OUT)."""
        h, w = rgb.shape[:2]
        if h == 0 or w == 0:
            raise ValueError("empty image")
        if zoom_out < 1.0:
            raise ValueError(f"zoom_out must be at least 1, got {zoom_out}")
        side = int(round(max(h, w) * zoom_out))
        oy, ox = (side - h) // 2, (side - w) // 2
        square = np.zeros((side, side, 3), np.uint8)
        square[oy:oy + h, ox:ox + w] = rgb
        small = cv2.resize(square, (SIZE, SIZE), interpolation=cv2.INTER_AREA if side > SIZE else cv2.INTER_LINEAR)
        outs = self.session.run(None, {"image": small[None]})
        return self._decode(outs, 0, side / SIZE, -ox, -oy, min_score, nms_iou)

    def detect_tiles(self, rgb: np.ndarray, side: int, min_score: float = MIN_SCORE,
                     nms_iou: float = 0.3) -> list[tuple[Box, float]]:
        """Faces in square tiles of `side` pixels (overlapping by a quarter, each shown to the
        network at its 256 px input): BlazeFace sees faces down to about a twelfth of
        its input, so a whole 1080p frame at 256 px hides the small faces of an office's back
        rows, while a tile of ~8 face widths shows them at a size it finds well (docs/vision.md,
        "detection"). Boxes in frame coordinates, overlaps across tiles suppressed, best first."""
        h, w = rgb.shape[:2]
        if h == 0 or w == 0:
            raise ValueError("empty image")
        side = max(16, min(side, h, w))
        step = max(1, (3 * side) // 4)
        xs = sorted({min(x, w - side) for x in range(0, max(1, w - side + step), step)})
        ys = sorted({min(y, h - side) for y in range(0, max(1, h - side + step), step)})
        origins = [(x, y) for y in ys for x in xs]
        interp = cv2.INTER_AREA if side > SIZE else cv2.INTER_LINEAR
        found: list[tuple[Box, float]] = []
        for x, y in origins:   # one at a time: the translated graph's reshapes fix the batch at 1
            tile = cv2.resize(rgb[y:y + side, x:x + side], (SIZE, SIZE), interpolation=interp)
            outs = self.session.run(None, {"image": tile[None]})
            found += self._decode(outs, 0, side / SIZE, x, y, min_score, nms_iou)
        kept: list[tuple[Box, float]] = []
        for box, score in sorted(found, key=lambda f: -f[1]):
            if all(iou(box, o) <= nms_iou for o, _ in kept):
                kept.append((box, score))
        return kept

    def _decode(self, outs: list[np.ndarray], n: int, k: float, dx: float, dy: float, min_score: float,
                nms_iou: float) -> list[tuple[Box, float]]:
        """The faces of batch item `n`, boxes scaled by `k` from input pixels and moved by (dx, dy)."""
        s16, s32, b16, b32 = outs
        logits = np.concatenate([s16[n, :, 0], s32[n, :, 0]])
        raw = np.concatenate([b16[n], b32[n]])
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
        out: list[tuple[Box, float]] = []
        for i in np.argsort(-scores):
            if scores[i] < min_score:
                break
            cx, cy = raw[i, 0] + self.anchors[i, 0], raw[i, 1] + self.anchors[i, 1]
            bw, bh = raw[i, 2], raw[i, 3]
            box = (int(round((cx - bw / 2) * k + dx)), int(round((cy - bh / 2) * k + dy)),
                   int(round(bw * k)), int(round(bh * k)))
            if box[2] > 0 and box[3] > 0 and all(iou(box, o) <= nms_iou for o, _ in out):
                out.append((box, float(scores[i])))
        return out


def load(directory: Path | None = None, *, threads: int = 1) -> BlazeFace:
    """One detector per process (and directory, threads)."""
    return tfjs_onnx.load_once(BlazeFace, directory, threads)
