"""Mask classification and masked-face detection on real photos, against dlib HOG in the same run.

1. masks/real: the held-out 30% (split by file-name hash, as in attendance/vision/training/train_mask.py; the
   classifier never saw these), over the faces the pipeline's detector finds (the largest face
   of each photo carries the photo's label): balanced accuracy, for the default classifier (with
   FaceRes's features) and, as the baseline, the one without them (mask.py).
2. masks/scenes (all masked): share of images in which the pipeline finds at least one face it
   classifies as masked, in the photo look (SCENES_CFG: faces down to 20 px, masked-face HOG
   filter, CNN check, the photo pass for large tilted faces, `photo_angles=PHOTO_ANGLES`:
   +-20 deg, and BlazeFace, `use_blazeface`); the same run with the CNN check's faces dropped,
   and passes without BlazeFace (the look before it), then without the photo pass, then without
   the masked-face HOG filter (the detector before all three); `apel analyze`'s own look for
   images (STILLS_CFG: the pipeline's whole-frame look with BlazeFace, also at half size) and
   the same without BlazeFace's look at half size; baseline: share in which
   face_recognition's HOG (upsample 1) finds any face at all. `--dump-added DIR` writes the faces each cue
   added (scenes and group photos) as contact sheets, and, for an audit by eye (scenes have no
   boxes, so a hit may rest on something that is not a face), each hit image of the photo look
   and of `apel analyze`'s look with its faces called masked (scenes_hits.json, keyed by the
   path under masks/scenes: file names repeat across its folders) and numbered sheets of them.
3. False faces: groups/dlib_annotated (PASCAL VOC photos with every face boxed, and dogs.jpg
   with none): faces found that overlap no true face (IoU < 0.3), with and without the check,
   and without the masked filter, with the photo pass and with BlazeFace; on groups/photos (no
   ground truth) the faces found with the masked filter that the detector without it does not
   find, the faces the check added, and the faces the photo pass and BlazeFace add.
4. Cost: detect_faces (the pipeline's whole-frame look: DetectorConfig(), min_face_px 32) on
   1280x720 frames: as shipped, without the CNN check, without the masked filter, and with the
   photo pass (not a live look; for its cost); median of
   `--timing-runs` runs each, alternated in one process; wall time and process CPU time (steadier
   on a shared machine).

Run: .venv/bin/python bench/bench_masks.py [--scenes-step 1] [--dump-added DIR]"""
from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attendance.vision.config import PipelineConfig
from attendance.vision.detect.boxes import iou
from attendance.vision.detect.detector import PHOTO_ANGLES, DetectorConfig, detect_faces, detect_faces_cues
from attendance.vision.faces import face_chip, landmarks5
from attendance.vision.mask import WEIGHTS, MaskClassifier, default_classifier
from attendance.vision.training.protocol import DATA
from attendance.vision.training.train_mask import chips_of, is_test

SCENES_CFG = DetectorConfig(min_face_px=20, hog_threshold=-0.5, photo_angles=PHOTO_ANGLES, use_blazeface=True)
_STILLS = PipelineConfig().for_stills()   # apel analyze on images
STILLS_CFG = DetectorConfig(min_face_px=_STILLS.min_face_px, use_blazeface=_STILLS.detector_use_blazeface)


def load_rgb(path: Path, longest: int) -> np.ndarray:
    bgr = cv2.imread(str(path))
    s = min(1.0, longest / max(bgr.shape[:2]))
    if s < 1:
        bgr = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def sheet(crops: list[np.ndarray], path: Path, cols: int = 10, size: int = 96) -> None:
    tiles = [cv2.resize(c, (size, size)) for c in crops]
    while len(tiles) % cols:
        tiles.append(np.zeros((size, size, 3), np.uint8))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def crop_box(rgb: np.ndarray, b) -> np.ndarray:
    x, y, w, h = b
    m = w // 4
    return rgb[max(0, y - m):y + h + m, max(0, x - m):x + w + m]


def masks_real(clf, which: str = "") -> None:
    ys, ps, missed = [], [], 0
    for label, folder in ((1, "with_mask"), (0, "without_mask")):
        for p in sorted((DATA / "masks/real" / folder).glob("*")):
            if not is_test(p):
                continue
            cs = chips_of(p)
            if not cs:
                missed += 1
                continue
            ys.append(label)
            ps.append(float(clf.predict_proba(cs[:1])[0]))
    y, pr = np.array(ys), np.array(ps) >= 0.5
    bal = 0.5 * (pr[y == 1].mean() + (~pr[y == 0]).mean())
    print(f"masks/real held-out{which}: {len(y)} faces detected ({missed} photos without a detected face)")
    print(f"  balanced accuracy {bal:.1%}  "
          f"(mask recall {pr[y == 1].mean():.1%}, no-mask recall {(~pr[y == 0]).mean():.1%})")


def masked_found(rgb: np.ndarray, found, clf, also=None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Which faces `clf` calls masked; with `also`, a second classifier's answers on the same chips."""
    chips = [face_chip(rgb, landmarks5(rgb, b)) for b, _, _ in found]
    out = clf.predict_proba(chips) >= 0.5 if chips else np.zeros(0, bool)
    if also is None:
        return out
    return out, (also.predict_proba(chips) >= 0.5 if chips else np.zeros(0, bool))


def masks_scenes(clf, step: int, dump: Path | None, fallback=None) -> None:
    """`fallback`: another classifier judged on the same faces in the photo look and `apel
    analyze`'s look (the classifier without FaceRes, as a baseline in the same run)."""
    import face_recognition

    scenes = sorted((DATA / "masks/scenes").glob("*/*.jpg"))[::step]
    before = replace(SCENES_CFG, use_blazeface=False)
    looks = {  # label -> detector config; the first is the photo look as measured
        "photo look (masked HOG filter, CNN check, photo pass, BlazeFace)": SCENES_CFG,
        "the same without BlazeFace (the photo look before 2026-11-29)": before,
        "the same without BlazeFace and the photo pass": replace(before, photo_angles=()),
        "the same without BlazeFace, the photo pass and the masked HOG filter":
            replace(before, photo_angles=(), use_mask_hog=False),
        f"apel analyze's look for images (DetectorConfig(min_face_px={STILLS_CFG.min_face_px}), BlazeFace)":
            STILLS_CFG,
        "the same without BlazeFace's look at half size (apel analyze before 2026-11-29, day 3)":
            replace(STILLS_CFG, blazeface_zoom_out=False),
    }
    hits = dict.fromkeys(looks, 0)
    fallback_looks = {0, 4} if fallback is not None else set()
    fallback_hits = dict.fromkeys(fallback_looks, 0)
    secs = dict.fromkeys(looks, 0.0)
    cnn_less = base = 0
    t_base = 0.0
    crops: dict[str, list[np.ndarray]] = {
        k: [] for k in ("cnn", "hog_mask", "photo", "photo_mask", "blaze", "blaze_far")}
    # For an audit by eye (scenes have no boxes, so a hit may rest on a face that is not one): per
    # look, each hit image's faces called masked, and a numbered contact sheet of the first of them.
    audit_looks = {0, 4} if dump else set()
    audit: dict[str, list[np.ndarray]] = {label: [] for k, label in enumerate(looks) if k in audit_looks}
    listed: dict[str, dict[str, list]] = {}
    for p in scenes:
        rgb = load_rgb(p, 640)
        t = time.perf_counter()
        base += len(face_recognition.face_locations(rgb, 1)) > 0
        t_base += time.perf_counter() - t
        rel = str(p.relative_to(DATA / "masks/scenes"))   # names repeat across the subfolders
        for i, (label, cfg) in enumerate(looks.items()):
            t = time.perf_counter()
            found = detect_faces_cues(rgb, cfg)
            if i in fallback_looks:
                masked, other = masked_found(rgb, found, clf, also=fallback)
                fallback_hits[i] += bool(other.any())
            else:
                masked = masked_found(rgb, found, clf)
            secs[label] += time.perf_counter() - t
            hits[label] += bool(masked.any())
            if i in audit_looks and masked.any():
                faces = [(list(map(int, b)), k) for (b, _, k), m in zip(found, masked, strict=True) if m]
                listed.setdefault(label, {})[rel] = faces
                audit[label].append(crop_box(rgb, faces[0][0]))
            if i == 0:
                cnn_less += bool(any(m for m, (_, _, k) in zip(masked, found, strict=True) if k != "cnn"))
                for (b, _, k) in found:
                    if k in crops:
                        crops[k].append(crop_box(rgb, b))
    n = len(scenes)
    print(f"masks/scenes: {n} images (longest side <= 640 px); share with a face found and classified as masked:")
    for i, label in enumerate(looks):
        print(f"  {label}: {hits[label] / n:.1%}  ({secs[label] / n * 1000:.0f} ms/image)")
        if i in fallback_hits:
            print(f"    same faces, mask classifier without FaceRes (the fallback): {fallback_hits[i] / n:.1%}")
    first = next(iter(looks))
    print(f"  photo look, CNN check's faces dropped: {cnn_less / n:.1%}   "
          f"({len(crops['cnn'])} faces added by the check, "
          f"{len(crops['hog_mask'])} found by the masked filter, {len(crops['photo']) + len(crops['photo_mask'])} "
          f"by the photo pass, {len(crops['blaze'])} by BlazeFace, {len(crops['blaze_far'])} by its look at half size)")
    print(f"  baseline HOG (face_locations, upsample 1) finds any face in {base / n:.1%}  "
          f"({t_base / n * 1000:.0f} ms/image)")
    print(f"  ratio {hits[first] / max(1, base):.2f}x")
    if dump:
        for k, cs in crops.items():
            if cs:
                sheet(cs, dump / f"scenes_{k}.png")
                print(f"  wrote {dump / f'scenes_{k}.png'} ({len(cs)} crops)")
        for n_look, cs in enumerate(audit.values()):
            numbered = [cv2.putText(cv2.resize(c, (96, 96)), str(i), (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                                    (255, 255, 0), 1)
                        for i, c in enumerate(cs)]
            for part in range(0, len(numbered), 100):
                sheet(numbered[part:part + 100], dump / f"scenes_hits_{n_look}_{part // 100}.png")
        (dump / "scenes_hits.json").write_text(json.dumps({label: listed.get(label, {}) for label in audit}, indent=1))
        print(f"  wrote {dump / 'scenes_hits.json'} and scenes_hits_*.png: each look's hit images in order "
              "(the sheets' numbers index the JSON's entries)")


def annotated_boxes() -> dict[str, list[tuple[int, int, int, int]]]:
    out: dict[str, list] = {}
    for xml in ("training.xml", "testing.xml"):
        for im in ET.parse(DATA / "groups/dlib_annotated" / xml).getroot().iter("image"):
            out.setdefault(im.get("file"), []).extend(
                (int(b.get("left")), int(b.get("top")), int(b.get("width")), int(b.get("height")))
                for b in im.iter("box"))
    out["dogs.jpg"] = []
    return out


def false_faces(dump: Path | None) -> None:
    cfg = DetectorConfig(min_face_px=20)   # the pipeline's whole-frame look, down to 20 px faces
    no_filter = replace(cfg, use_mask_hog=False)
    photo = replace(cfg, photo_angles=PHOTO_ANGLES)   # the photo look's pass on top
    blaze = replace(cfg, use_blazeface=True)          # what stills add (with its look at half size)
    truth = annotated_boxes()
    n_true = sum(len(v) for v in truth.values())
    keys = ("without masked filter", "without CNN check", "as shipped", "with photo pass", "with BlazeFace",
            "with BlazeFace, not at half size")
    counts = {k: [0, 0, 0] for k in keys}   # found, false, true faces found
    for name, gt in truth.items():
        rgb = load_rgb(DATA / "groups/dlib_annotated" / name, 10_000)
        found = detect_faces_cues(rgb, cfg)
        runs = (detect_faces_cues(rgb, no_filter), [f for f in found if f[2] != "cnn"], found,
                detect_faces_cues(rgb, photo), detect_faces_cues(rgb, blaze),
                detect_faces_cues(rgb, replace(blaze, blazeface_zoom_out=False)))
        for key, faces in zip(keys, runs, strict=True):
            c = counts[key]
            c[0] += len(faces)
            c[1] += sum(all(iou(b, g) < 0.3 for g in gt) for b, _, _ in faces)
            c[2] += sum(any(iou(b, g) >= 0.3 for b, _, _ in faces) for g in gt)
    print(f"groups/dlib_annotated: {len(truth)} photos, {n_true} true faces, DetectorConfig(min_face_px=20)")
    for key in keys:
        f, fa, tr = counts[key]
        print(f"  {key:22s}: {f} faces found, {fa} false ({fa / max(1, f):.1%}), true faces found {tr}/{n_true}")
    cnn_added, new, crops, photo_new, photo_crops, blaze_new, blaze_crops = 0, 0, [], 0, [], 0, []
    photos = sorted(p for p in (DATA / "groups/photos").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    for p in photos:
        rgb = load_rgb(p, 1280)
        found = detect_faces_cues(rgb, cfg)
        old = detect_faces_cues(rgb, no_filter)
        cnn_added += sum(k == "cnn" for _, _, k in found)
        for b, _, _ in found:
            if all(iou(b, o) < 0.3 for o, _, _ in old):
                new += 1
                crops.append(crop_box(rgb, b))
        for b, _, _ in detect_faces_cues(rgb, photo):
            if all(iou(b, o) < 0.3 for o, _, _ in found):
                photo_new += 1
                photo_crops.append(crop_box(rgb, b))
        for b, _, _ in detect_faces_cues(rgb, blaze):
            if all(iou(b, o) < 0.3 for o, _, _ in found):
                blaze_new += 1
                blaze_crops.append(crop_box(rgb, b))
    print(f"groups/photos: {len(photos)} photos (longest side <= 1280 px): {new} faces found that the detector "
          f"without the masked filter does not find; the CNN check added {cnn_added}; the photo pass adds {photo_new}; "
          f"BlazeFace adds {blaze_new}")
    if dump and crops:
        sheet(crops, dump / "groups_new.png")
        print(f"  wrote {dump / 'groups_new.png'}")
    if dump and photo_crops:
        sheet(photo_crops, dump / "groups_photo_pass.png")
        print(f"  wrote {dump / 'groups_photo_pass.png'}")
    if dump and blaze_crops:
        sheet(blaze_crops, dump / "groups_blazeface.png")
        print(f"  wrote {dump / 'groups_blazeface.png'}")


def timing(runs: int) -> None:
    frames = []
    cap = cv2.VideoCapture(str(DATA / "video/facenet_pytorch_video.mp4"))
    ok, f = cap.read()
    cap.release()
    if ok:
        frames.append(("facenet_pytorch_video frame 0", cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA)))
    g = cv2.imread(str(DATA / "groups/photos/insightface_t1.jpg"))
    if g is not None:
        frames.append(("insightface_t1 (group)", cv2.resize(g, (1280, 720), interpolation=cv2.INTER_AREA)))
    on = DetectorConfig()
    cfgs = {"without masked filter": replace(on, use_mask_hog=False),
            "without CNN check": replace(on, use_cnn_check=False),
            "as shipped": on, "with photo pass": replace(on, photo_angles=PHOTO_ANGLES)}
    print(f"detect_faces on 1280x720 frames, DetectorConfig() (min_face_px 32), "
          f"median of {runs} runs each, alternated:")
    for name, bgr in frames:
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        detect_faces(rgb, on)  # load models
        ts: dict[str, list[float]] = {k: [] for k in cfgs}
        cpu: dict[str, list[float]] = {k: [] for k in cfgs}
        for i in range(runs):
            for k in (list(cfgs) if i % 2 == 0 else list(cfgs)[::-1]):
                t, c = time.perf_counter(), time.process_time()
                detect_faces(rgb, cfgs[k])
                ts[k].append(time.perf_counter() - t)
                cpu[k].append(time.process_time() - c)
        cues = [k for _, _, k in detect_faces_cues(rgb, on)]
        print(f"  {name}: faces: {cues.count('hog_mask')} hog_mask, {cues.count('cnn')} cnn, {len(cues)} in all")
        for label, d in (("wall", ts), ("CPU (all threads: OpenCV's cascades use both cores)", cpu)):
            med = {k: float(np.median(v)) for k, v in d.items()}
            base = med["without masked filter"]
            print(f"    {label}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in med.items())
                  + f"; masked filter {(med['as shipped'] / base - 1) * 100:+.1f}%, "
                  f"CNN check {(med['as shipped'] / med['without CNN check'] - 1) * 100:+.1f}%, "
                  f"photo pass {(med['with photo pass'] / med['as shipped'] - 1) * 100:+.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes-step", type=int, default=1, help="use every Nth scene image")
    ap.add_argument("--timing-runs", type=int, default=7)
    ap.add_argument("--dump-added", type=Path,
                    help="folder for contact sheets of the faces the masked filter and the CNN check added")
    ap.add_argument("--only", choices=("real", "scenes", "false", "timing"), action="append")
    a = ap.parse_args()
    if a.dump_added:
        a.dump_added.mkdir(parents=True, exist_ok=True)
    clf = default_classifier()
    fallback = MaskClassifier(WEIGHTS) if clf.uses_faceres else None
    print(f"mask classifier: {'with FaceRes features' if clf.uses_faceres else 'without FaceRes (not installed)'}")
    t0 = time.time()
    parts = a.only or ["real", "scenes", "false", "timing"]
    if "real" in parts:
        masks_real(clf)
        if fallback is not None:
            masks_real(fallback, ", classifier without FaceRes (the fallback)")
    if "scenes" in parts:
        masks_scenes(clf, a.scenes_step, a.dump_added, fallback)
    if "false" in parts:
        false_faces(a.dump_added)
    if "timing" in parts:
        timing(a.timing_runs)
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
