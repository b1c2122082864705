"""Back rows that are never detected (issue 18): why, and what a detector change buys.

The apel-days bench (BENCHMARKS.md, "Learning curve (apel days)") found people who were never
detected in whole apels, all in the back rows. This bench renders the same kind of office
(bench_apel_days' staff and scene: `staff_for`, `split_photos`, `scene_dir`, then `make_office`
with a day's seed) on seeds that bench never used, and looks at every sampled frame with each
detector setting in one process, on the same frames (a same-run baseline):

- per person-frame detection recall (the face matched to the person by bench_vision_office.match),
  by row (front half / back half of the rows' depths) and masked or not;
- false faces per frame (boxes matched to nobody);
- CPU seconds per look (process time);
- for each person no setting finds in any frame, the likely reason: expected box width against
  the smallest face HOG can reach at the frame's 9 MP work-image cap, masked, covered by the
  people in front (their head and torso drawn over the face box), and the best HOG score any
  cue reaches on an upsampled crop of the face.

Settings compared (`settings`): "old" is the pipeline's whole-frame look before this bench's change
(DetectorConfig at min_face_px 32, the 9 MP cap, so the smallest face HOG reaches in 1080p is
80 / sqrt(9e6 / 1920 / 1080) = 38 px), and the candidates.

Run: flock /tmp/helpers/bench.lock nice -n 5 .venv/bin/python bench/bench_back_rows.py \
        --kinds west,rmfd --offices 2 --days 2 --seed-base 5200 [--rows-m 3,6] [--every 5]
Seeds: office k is seed-base + k (rmfd) or seed-base + 50 + k (west); each day day_seed(office, day),
as in bench_apel_days. 5200-5299 are this bench's (BENCHMARKS.md says which were run)."""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_apel_days import FPS, HFOV, MIN_DISTANCE_M, SIZES, BenchOffice, scene_dir, staff_for
from bench_distance import day_seed
from bench_vision_office import match, project, read_frames

from attendance.vision.detect import detector as det
from attendance.vision.detect.boxes import iou
from attendance.vision.detect.detector import VIDEO_TILE_FACES, DetectorConfig, detect_faces_cues
from attendance.vision.training.synth_office import make_office

BOX_M = 0.155   # the HOG box's width on the synthetic office's faces (pipeline.FACE_BOX_M's note)
HEAD_M = (0.19, 0.26)   # a head sprite's drawn size (synth_office._head_sprite: 3.8 x 4.6 eye spacings)


@dataclass
class Tally:
    person_frames: int = 0
    found: int = 0
    back_frames: int = 0
    back_found: int = 0
    masked_back_frames: int = 0
    masked_back_found: int = 0
    false: int = 0
    frames: int = 0
    cpu_s: list[float] = field(default_factory=list)
    never: int = 0          # people never found in any of their frames
    people: int = 0
    cues: dict[str, int] = field(default_factory=dict)


def settings(names: list[str]) -> dict[str, DetectorConfig]:
    """name -> the whole-frame look's DetectorConfig (min_face_px 32, the pipeline's default
    without a back-row distance)."""
    new = DetectorConfig(min_face_px=32, tile_faces=VIDEO_TILE_FACES)
    all_ = {"old": replace(new, tile_faces=0.0),        # before the tiled look
            "new": new,                                  # the live pipeline's whole look now
            "tiles_min03": replace(new, tile_min_score=0.3),   # the first rule: BlazeFace's weak faces too
            "tiles_hog_05": replace(new, tile_sure_score=2.0),   # every tile face needs HOG >= -0.5
            "tiles_6": replace(new, tile_faces=6.0),
            "tiles_10": replace(new, tile_faces=10.0)}
    return {n: all_[n] for n in names}


def cover(truth: dict, f: float) -> dict[str, float]:
    """Share of each person's face box covered by the heads and torsos of people nearer the camera."""
    w, h = truth["width"], truth["height"]
    _, pts = project(truth)
    out: dict[str, float] = {}
    people = truth["people"]
    for p in people:
        z = p["position_m"][2]
        u, v = pts[p["id"]]
        bw = BOX_M * f / z
        x0, y0, x1, y1 = int(u - bw / 2), int(v - 0.4 * bw), int(u + bw / 2), int(v + 0.6 * bw)
        area = max(1, (x1 - x0) * (y1 - y0))
        mask = np.zeros((h, w), np.uint8)
        for q in people:
            zq = q["position_m"][2]
            if zq >= z - 1e-6:
                continue
            uq, vq = pts[q["id"]]
            cv2.ellipse(mask, (int(uq), int(vq)), (int(HEAD_M[0] * f / zq / 2), int(HEAD_M[1] * f / zq / 2)),
                        0, 0, 360, 1, -1)
            sh = f * 0.46 / zq
            top = int(vq + f * 0.14 / zq)
            cv2.ellipse(mask, (int(uq), int(top + sh * 0.9)), (int(sh / 2), int(sh)), 0, 0, 360, 1, -1)
        out[p["id"]] = float(mask[max(0, y0):y1, max(0, x0):x1].sum()) / area
    return out


def crop_score(rgb: np.ndarray, u: float, v: float, bw: float) -> tuple[float, str]:
    """Best HOG score (frontal or masked filter) of a face on a crop around (u, v) upsampled so
    the face is 100 px wide: can HOG see this face at all once it is big enough?"""
    m = 1.2 * bw
    x0, y0 = int(max(0, u - m)), int(max(0, v - m))
    x1, y1 = int(min(rgb.shape[1], u + m)), int(min(rgb.shape[0], v + 1.3 * m))
    s = 100.0 / bw
    best, kind = -9.0, "-"
    for b, sc, k in det.hog_faces_cues(np.ascontiguousarray(rgb[y0:y1, x0:x1]), s, -2.0):
        cx, cy = x0 + b[0] + b[2] / 2, y0 + b[1] + 0.4 * b[3]
        if math.hypot(cx - u, cy - v) < 0.6 * bw and sc > best:
            best, kind = sc, k
    return best, kind


def render(kind: str, office: int, day: int, rows_m: tuple[float, float], size: int, seconds: float,
           masked: float, work: Path) -> tuple[Path, dict]:
    staff = staff_for(kind, office, 20)
    rng = np.random.default_rng(day_seed(office, day))
    ids = sorted(staff)
    away = set(rng.choice(ids, 2, replace=False).tolist())
    present = [p for p in ids if p not in away]
    o = BenchOffice(kind, office, 0, 0, staff, {})
    scene = scene_dir(work, o, day, present)
    tag = f"br_{office}_{day}_{rows_m[0]}-{rows_m[1]}_{size}_{seconds}_{masked}"
    clip, tp = work / f"{tag}.mp4", work / f"{tag}.json"
    if clip.exists() and tp.exists():
        return clip, json.loads(tp.read_text())
    while True:   # a person none of whose camera photos has a usable face stays home today
        try:
            truth = make_office(scene, len(present), seconds, clip, tp, fps=FPS, size=SIZES[size], hfov_deg=HFOV,
                                min_distance_m=MIN_DISTANCE_M, seed=day_seed(office, day), masked_fraction=masked,
                                arrive_within_s=0.0, rows_m=rows_m, traits_seed=office)
            return clip, truth
        except ValueError as e:
            bad = next((d for d in scene.iterdir() if str(d) in str(e)), None)
            if bad is None:
                raise
            shutil.rmtree(bad)
            present = [p for p in present if p.replace("/", "_") != bad.name]


def real_frames(a: argparse.Namespace, names: list[str], sets: dict[str, DetectorConfig]) -> dict[str, Any]:
    """Boxes per frame on real video the settings were not tuned on (../shared/data/video):
    PETS09 (768x576 pedestrians, faces too small for any setting: every box is a false face) and
    facenet_pytorch_video (1080p, a crowd walking to the camera: boxes a setting adds over "old"
    are listed for inspection; `--real-crops DIR` writes them out)."""
    from attendance.vision.training.protocol import DATA
    out: dict[str, Any] = {}
    for clip, every in (("opencv_vtest_PETS09-S2L1.avi", 40), ("facenet_pytorch_video.mp4", 10)):
        cap = cv2.VideoCapture(str(DATA / "video" / clip))
        boxes = {n: 0 for n in names}
        extra: dict[str, list] = {n: [] for n in names}
        frames, i = 0, 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                frames += 1
                rgb = np.ascontiguousarray(frame[:, :, ::-1])
                found = {n: detect_faces_cues(rgb, sets[n]) for n in names}
                for n in names:
                    boxes[n] += len(found[n])
                    for b, sc, k in found[n]:
                        if all(iou(b, o) <= 0.3 for o, _, _ in found[names[0]]):
                            extra[n].append((i, b, round(sc, 2), k))
                            if a.real_crops:
                                x, y, w, h = b
                                crop = frame[max(0, y - h):y + 2 * h, max(0, x - w):x + 2 * w]
                                Path(a.real_crops).mkdir(parents=True, exist_ok=True)
                                cv2.imwrite(str(Path(a.real_crops) / f"{n}_{clip[:6]}_{i}_{x}_{y}.png"), crop)
            i += 1
        cap.release()
        out[clip] = {"frames": frames, "boxes": boxes, "added_over_old": extra}
        print(f"{clip}: {frames} frames; boxes " + ", ".join(f"{n} {boxes[n]}" for n in names)
              + "; added over old: " + ", ".join(f"{n} {extra[n]}" for n in names[1:]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kinds", default="west,rmfd")
    ap.add_argument("--offices", type=int, default=1)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed-base", type=int, default=5200)
    ap.add_argument("--rows-m", default="3,6")
    ap.add_argument("--size", type=int, default=1080, choices=sorted(SIZES))
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--every", type=int, default=5, help="look at every n-th sampled frame")
    ap.add_argument("--masked", type=float, default=0.3)
    ap.add_argument("--settings", default="old")
    ap.add_argument("--diagnose", action="store_true", help="reasons for people no setting finds")
    ap.add_argument("--json")
    ap.add_argument("--cache", help="keep rendered clips here (and reuse them)")
    ap.add_argument("--real", action="store_true", help="only the real-video false-face check")
    ap.add_argument("--real-crops", help="write the boxes a setting adds on real video here")
    a = ap.parse_args()
    rows = tuple(float(x) for x in a.rows_m.split(","))
    names = a.settings.split(",")
    sets = settings(names)
    if a.real:
        res = real_frames(a, names, sets)
        if a.json:
            Path(a.json).write_text(json.dumps({"args": vars(a), "real": res}, indent=1, default=str))
        return
    tallies = {n: Tally() for n in names}
    reasons: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.cache or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for kind in a.kinds.split(","):
            for k in range(a.offices):
                office = a.seed_base + k + (50 if kind == "west" else 0)
                for day in range(1, a.days + 1):
                    clip, truth = render(kind, office, day, rows, a.size, a.seconds, a.masked, work)  # type: ignore[arg-type]
                    f, pts = project(truth)
                    zs = sorted(p["position_m"][2] for p in truth["people"])
                    z_mid = (zs[0] + zs[-1]) / 2
                    byid = {p["id"]: p for p in truth["people"]}
                    frames = [fr for i, fr in enumerate(read_frames(clip, FPS, truth["fps"])) if i % a.every == 0]
                    hit = {n: {p: 0 for p in byid} for n in names}
                    if not tallies[names[0]].frames:   # load every model once before timing
                        for n in names:
                            detect_faces_cues(np.ascontiguousarray(frames[0][1][:, :, ::-1]), sets[n])
                    for t, frame in frames:
                        rgb = np.ascontiguousarray(frame[:, :, ::-1])
                        ids_now = [p for p in byid if byid[p]["appear_s"] <= t]
                        for n in names:
                            cfg = sets[n]
                            c0 = time.process_time()
                            faces = detect_faces_cues(rgb, cfg)
                            ta = tallies[n]
                            ta.cpu_s.append(time.process_time() - c0)
                            m = match([b for b, _, _ in faces], ids_now, pts)
                            ta.frames += 1
                            ta.false += len(faces) - len(m)
                            for i in m:
                                ta.cues[faces[i][2]] = ta.cues.get(faces[i][2], 0) + 1
                            got = set(m.values())
                            for pid in ids_now:
                                p = byid[pid]
                                back = p["position_m"][2] > z_mid
                                ta.person_frames += 1
                                ta.found += pid in got
                                hit[n][pid] += pid in got
                                if back:
                                    ta.back_frames += 1
                                    ta.back_found += pid in got
                                    if p["mask"]:
                                        ta.masked_back_frames += 1
                                        ta.masked_back_found += pid in got
                    for n in names:
                        tallies[n].people += len(byid)
                        tallies[n].never += sum(1 for v in hit[n].values() if v == 0)
                    if a.diagnose:
                        cov = cover(truth, f)
                        rgb = np.ascontiguousarray(frames[-1][1][:, :, ::-1])
                        for pid, p in byid.items():
                            if hit[names[0]][pid]:
                                continue
                            z = p["position_m"][2]
                            u, v = pts[pid]
                            bw = BOX_M * f / z
                            sc, cue = crop_score(rgb, u, v, bw)
                            r = {"office": office, "day": day, "id": pid, "z_m": round(z, 2), "box_px": round(bw, 1),
                                 "masked": p["mask"], "covered": round(cov[pid], 2),
                                 "crop_hog": round(sc, 2), "crop_cue": cue,
                                 "found_by": [n for n in names if hit[n][pid]]}
                            reasons.append(r)
                            print("never found by", names[0], r, flush=True)
                    if not a.cache:
                        clip.unlink(missing_ok=True)
    out: dict[str, dict[str, Any]] = {}
    for n, ta in tallies.items():
        row: dict[str, Any] = {
               "recall": ta.found / max(1, ta.person_frames), "back_recall": ta.back_found / max(1, ta.back_frames),
               "masked_back_recall": ta.masked_back_found / max(1, ta.masked_back_frames),
               "false_per_frame": ta.false / max(1, ta.frames), "cpu_s_median": float(np.median(ta.cpu_s)),
               "never": f"{ta.never}/{ta.people}", "frames": ta.frames, "cues": ta.cues}
        out[n] = row
        print(f"{n:>14}: recall {row['recall']:.3f}  back {row['back_recall']:.3f} "
              f"(masked back {row['masked_back_recall']:.3f}, {ta.masked_back_frames} pf)  "
              f"false/frame {row['false_per_frame']:.3f}  never {row['never']}  "
              f"cpu {row['cpu_s_median']:.3f} s/look  frames {ta.frames}  cues {ta.cues}", flush=True)
    for n in names[1:]:
        print(f"cpu ratio {n}/{names[0]}: {out[n]['cpu_s_median'] / out[names[0]]['cpu_s_median']:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"args": vars(a), "settings": out, "reasons": reasons}, indent=1))


if __name__ == "__main__":
    main()
