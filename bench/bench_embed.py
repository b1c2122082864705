"""Face embeddings: dlib's ResNet in dlib itself vs. the same network in ONNX Runtime
(attendance/vision/runtime/dlib_onnx.py), same chips, same process, one thread each.

Chips: real faces from ../shared/data/faces/lfw10 (4 photos x 10 people = 40 chips), aligned the
way the pipeline aligns them (HOG box, 5 landmarks, dlib.get_face_chip 150 px, padding 0.25).
Timing: dlib and ONNX alternate chip by chip (batch 1) and batch by batch (batch 10), several
rounds; medians of ms per chip. Parity: max |difference| of the descriptors and of the 40x40
pairwise distance matrix.

--recognition: also the Western part of bench_recognition.py (lfw10 + fr_examples + openface,
17 people) once with APEL_DLIB_ONNX=0 (dlib) and once with the ONNX path, each with its own
fresh embedding cache (bench_recognition's /tmp cache is keyed by photo, not by backend);
--rmfd adds its East-Asian rows.

Run: .venv/bin/python bench/bench_embed.py [--rounds 3] [--recognition [--rmfd] [--trials 40]]"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from attendance.vision import faces
from attendance.vision.recognise import dlib_models
from attendance.vision.roster_dir import read_image_rgb
from attendance.vision.runtime import dlib_onnx

LFW = ROOT.parent / "shared" / "data" / "faces" / "lfw10"


def lfw_chips(per_person: int = 4) -> list[np.ndarray]:
    chips = []
    for person in sorted(p for p in LFW.iterdir() if p.is_dir()):
        got = 0
        for photo in sorted(person.glob("*.jpg")):
            rgb = read_image_rgb(photo)
            dets = dlib_models.hog_detector()(rgb, 1)
            if not dets:
                continue
            best = max(dets, key=lambda r: r.area())
            box = (best.left(), best.top(), best.width(), best.height())
            chips.append(faces.face_chip(rgb, faces.landmarks5(rgb, box)))
            got += 1
            if got == per_person:
                break
    return chips


def dlib_embed(chips: list[np.ndarray]) -> np.ndarray:
    enc = dlib_models.encoder()
    return np.array([np.array(d) for d in enc.compute_face_descriptor(chips)], np.float32)


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def speed(chips: list[np.ndarray], rounds: int) -> None:
    t = time.perf_counter()
    onnx = dlib_onnx.DlibOnnxEncoder(faces.encoder_path(), threads=1)
    t_conv = time.perf_counter() - t
    t = time.perf_counter()
    dlib_onnx.verify_against_dlib(onnx)
    t_check = time.perf_counter() - t
    print(f"conversion (parse + ONNX graph + session): {t_conv * 1000:.0f} ms; "
          f"check against dlib at load: {t_check * 1000:.0f} ms")
    dlib_embed(chips[:2])
    onnx.embed(chips[:2])  # warm both

    b1 = {"dlib": [], "onnx": []}
    b10 = {"dlib": [], "onnx": []}
    for _ in range(rounds):
        for c in chips:
            b1["dlib"].append(timed(dlib_embed, [c]) * 1000)
            b1["onnx"].append(timed(onnx.embed, [c]) * 1000)
        for i in range(0, len(chips) - 9, 10):
            batch = chips[i:i + 10]
            b10["dlib"].append(timed(dlib_embed, batch) * 100)
            b10["onnx"].append(timed(onnx.embed, batch) * 100)
    ref = dlib_embed(chips)
    got = onnx.embed(chips)
    one = np.concatenate([onnx.embed([c]) for c in chips])
    pd = lambda d: np.linalg.norm(d[:, None] - d[None], axis=-1)  # noqa: E731
    print(f"\n{len(chips)} lfw10 chips, {rounds} rounds, one thread; median ms per chip")
    print("| batch | dlib | ONNX Runtime | speed-up |")
    print("|---|---|---|---|")
    for name, res in (("1", b1), ("10", b10)):
        d, o = statistics.median(res["dlib"]), statistics.median(res["onnx"])
        print(f"| {name} | {d:.1f} | {o:.1f} | {d / o:.1f}x |")
    print(f"max |descriptor difference|: batch {np.abs(got - ref).max():.2g}, one by one {np.abs(one - ref).max():.2g} "
          f"(descriptor norms ~{np.linalg.norm(ref, axis=1).mean():.2f}); "
          f"max pairwise-distance difference {np.abs(pd(got) - pd(ref)).max():.2g}")


def recognition(trials: int, rmfd: bool) -> None:
    spec = importlib.util.spec_from_file_location("bench_recognition", ROOT / "bench" / "bench_recognition.py")
    br = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(br)
    from attendance.vision.recognise.recognisers import MatchThresholds
    from attendance.vision.training import protocol

    th = MatchThresholds.load("dlib-128")
    seen: dict[str, dict] = {}
    for backend, env in (("dlib", "0"), ("ONNX Runtime", "1")):
        os.environ["APEL_DLIB_ONNX"] = env
        assert (faces.fast_encoder() is None) == (env == "0")
        with tempfile.TemporaryDirectory(prefix="apel-embed-bench-") as tmp:
            protocol.CACHE = Path(tmp)
            t = time.time()
            w, _, failed = br.embedded(br.western())
            took = time.time() - t
            print(f"\n[{backend}] Western: {len(w)} people, {sum(map(len, w.values()))} photos embedded, "
                  f"{failed} without a face ({took:.0f} s enrolling)")
            seen[backend] = w
            if len(seen) == 2:
                a, b = seen.values()
                diff = max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
                           for k in a for x, y in zip(a[k], b.get(k, []), strict=True))
                print(f"  enrolment embeddings of the same photos, dlib vs ONNX: max |difference| {diff:.2g}")
            for label, raw in (("pipeline, 1 photo, 1-photo probes", False), ("baseline raw dlib 0.6, 1 photo", True)):
                o = protocol.Outcome()
                for seed in range(trials):
                    o.add(br.offices(w, len(w), 1, 1, 1, th, seed, raw=raw))
                print(br.fmt(label, o))
            if rmfd:
                r, _, failed = br.embedded(protocol.identities(protocol.DATA / "faces/rmfd", 3))
                print(f"[{backend}] East-Asian (faces/rmfd): {len(r)} people, {failed} photos without a face")
                for label, n_enrol, plen, raw in (("pipeline, 3 photos, 2-photo tracks", 3, 2, False),
                                                  ("baseline raw dlib 0.6, 3 photos, 1 probe photo", 3, 1, True)):
                    print(br.fmt(label, br.offices(r, 20, n_enrol, plen, trials, th, 1, n_imp=10, raw=raw)))
    os.environ.pop("APEL_DLIB_ONNX", None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-person", type=int, default=4)
    ap.add_argument("--recognition", action="store_true")
    ap.add_argument("--rmfd", action="store_true")
    ap.add_argument("--trials", type=int, default=40)
    a = ap.parse_args()
    if not LFW.is_dir():
        sys.exit(f"{LFW} is absent")
    chips = lfw_chips(a.per_person)
    speed(chips, a.rounds)
    if a.recognition:
        recognition(a.trials, a.rmfd)


if __name__ == "__main__":
    main()
