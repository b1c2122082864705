"""A synthetic office for tests and benchmarks: people from a roster folder standing in rows in
front of a camera at known positions, some masked, some too close, with small natural motion;
the ground truth is written beside the clip.

Geometry is a pinhole camera 2.6 m above the floor, pitched down so a 1.6 m head in the middle
of the rows is in the middle of the picture. People are not all alike and do not stand exactly on
their row's line: each head is at its own height (1.60 +- 0.06 m, clipped to 1.45-1.75 m) and
each person stands a little in front of or behind the row (sd 6 cm, clipped to +-15 cm); the
truth gives every person's own position. Positions in the truth are camera coordinates
(x right, y down, z along the optical axis), the frame the pipeline reports in. Each face
photo is scaled so the person's interpupillary distance (drawn per person from 63 +- 3 mm)
spans f * ipd / z pixels, which is the physics the distance estimator inverts (with the
population mean, not the person's own value, so the anatomical error is real)."""
from __future__ import annotations

import json
import math
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from attendance.vision.enrol import detect_enrolment_faces
from attendance.vision.faces import landmarks5, landmarks68, paint_mask
from attendance.vision.geometry.camera import focal_px
from attendance.vision.roster_dir import read_image_rgb, roster_photos

CAMERA_HEIGHT_M = 2.6
HEAD_HEIGHT_M = 1.6             # the mean; the camera is aimed for a head this high
HEAD_HEIGHT_SD_M, HEAD_HEIGHT_RANGE_M = 0.06, (1.45, 1.75)
ROW_DEPTH_SD_M, ROW_DEPTH_MAX_M = 0.06, 0.15   # how far off the row's line people stand
IPD_MEAN_M, IPD_SD_M = 0.063, 0.003
# Synthetic mask colours differ from the enrolment variants' (faces.MASK_COLOURS_RGB) so the
# masked people on camera are not painted exactly like their masked templates.
SCENE_MASK_COLOURS = ((70, 150, 160), (210, 160, 175), (90, 95, 120), (200, 215, 230))


@dataclass
class SynthPerson:
    id: str
    photo: str
    position_m: tuple[float, float, float]
    mask: bool
    appear_s: float
    ipd_m: float
    head_height_m: float = HEAD_HEIGHT_M
    row: int = 0                # 0 = the front row


def row_lines_m(n: int, rows_m: tuple[float, float] = (3.0, 6.0)) -> list[float]:
    """The formation's row lines on the floor (metres from the camera, front first) that `_layout`
    puts `n` people on: what an operator would measure with a tape."""
    rows = min(4, max(1, math.ceil(n / 5)))
    zs = np.linspace(rows_m[0], rows_m[1], rows) if rows > 1 else np.array([(rows_m[0] + rows_m[1]) / 2])
    return [round(float(z), 3) for z in zs]


def _layout(n: int, hfov: float, rng: np.random.Generator, min_distance: float,
            jitter_rng: np.random.Generator | None = None,
            rows_m: tuple[float, float] = (3.0, 6.0)) -> list[tuple[float, float, int]]:
    """(x, z, row) floor positions: rows from rows_m[0] to rows_m[1] metres (one row: their
    middle), wider rows further back (the view
    widens), alternate rows shifted half a gap so faces don't hide each other; about one pair in
    five stands closer than the minimum distance. With `jitter_rng` each person stands off the
    row's line in depth (normal, sd ROW_DEPTH_SD_M, clipped to +-ROW_DEPTH_MAX_M); the row shift
    is chosen with the jittered depths, so neighbours stay clearly apart or clearly too close."""
    zs = np.array(row_lines_m(n, rows_m))
    width = zs * math.tan(math.radians(hfov) / 2) * 2 * 0.8
    counts = np.floor(n * width / width.sum()).astype(int)
    counts[-1] += n - counts.sum()
    out: list[tuple[float, float, int]] = []
    prev: np.ndarray | None = None
    prev_z: np.ndarray | None = None
    for r, (z, c) in enumerate(zip(zs, counts, strict=True)):
        if c <= 0:
            continue
        gaps = []
        for _ in range(c - 1):
            close = rng.random() < 0.22
            gaps.append(rng.uniform(0.55, 0.85) * min_distance if close else rng.uniform(1.25, 1.6) * min_distance)
        xs = np.concatenate([[0.0], np.cumsum(gaps)]) if gaps else np.array([0.0])
        if xs[-1] > 0.9 * width[r]:  # squeeze a row that would not fit in the view
            xs = xs * (0.9 * width[r] / xs[-1])
        xs = xs - xs.mean()
        zr = np.full(len(xs), float(z))
        if jitter_rng is not None:
            zr += np.clip(jitter_rng.normal(0.0, ROW_DEPTH_SD_M, len(xs)), -ROW_DEPTH_MAX_M, ROW_DEPTH_MAX_M)
        if prev is not None and prev_z is not None:
            # Shift the row so nobody stands right behind someone: keeps faces visible and
            # keeps people in neighbouring rows clearly apart or clearly too close, never
            # ambiguous at the minimum distance itself.
            dz = zr[:, None] - prev_z[None, :]

            def worst(shift: float, xs: np.ndarray = xs, before: np.ndarray = prev, dz: np.ndarray = dz) -> float:
                d = np.hypot(xs[:, None] + shift - before[None, :], dz) / min_distance
                return float(np.min(np.abs(d - 1.0)))
            # ... and never out of the picture (the view is width / 0.8 wide at this depth).
            half_view = 0.95 * width[r] / 0.8 / 2
            shifts = [sh for sh in np.arange(-0.8, 0.81, 0.05) if np.max(np.abs(xs + sh)) <= half_view]
            xs = xs + (max(shifts, key=worst) if shifts else 0.0)
        prev, prev_z = xs, zr
        out += [(float(x), float(zz), r) for x, zz in zip(xs, zr, strict=True)]
    return out


def _head_sprite(rgb: np.ndarray, masked: bool, colour: tuple[int, int, int],
                 target_ipd_px: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Cut the head out of a photo, optionally masked, scaled to the wanted eye distance.
    Returns (sprite RGB, alpha 0..1, eye-midpoint offset within the sprite)."""
    faces = detect_enrolment_faces(rgb)
    if not faces:
        raise ValueError("no face")
    pad = int(0.6 * max(rgb.shape[:2]))
    work = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    box = faces[0][0]
    box = (box[0] + pad, box[1] + pad, box[2], box[3])
    if masked:
        work = paint_mask(work, landmarks68(work, box), colour)
    pts = np.array([(p.x, p.y) for p in landmarks5(work, box).parts()], np.float32)
    le, re = pts[0:2].mean(0), pts[2:4].mean(0)
    eye_px = float(np.linalg.norm(le - re))
    s = target_ipd_px / eye_px
    mid = (le + re) / 2
    half_w, up, down = 1.9 * eye_px, 2.0 * eye_px, 2.6 * eye_px
    x0, x1 = int(mid[0] - half_w), int(mid[0] + half_w)
    y0, y1 = int(mid[1] - up), int(mid[1] + down)
    crop = work[y0:y1, x0:x1]
    size = (max(4, int(round(crop.shape[1] * s))), max(4, int(round(crop.shape[0] * s))))
    sprite = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    alpha = np.zeros(sprite.shape[:2], np.float32)
    cv2.ellipse(alpha, (size[0] // 2, int(size[1] * up / (up + down) * 1.0)),
                (int(size[0] * 0.42), int(size[1] * 0.48)), 0, 0, 360, 1.0, -1)
    k = max(1, int(size[0] * 0.06)) * 2 + 1
    alpha = cv2.GaussianBlur(alpha, (k, k), 0)
    return sprite, alpha, (size[0] / 2.0, size[1] * up / (up + down))


def _background(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    wall = np.linspace(200, 170, h, dtype=np.float32)[:, None, None] * np.array([1.0, 0.97, 0.9], np.float32)
    bg = np.broadcast_to(wall, (h, w, 3)).copy()
    bg[int(h * 0.72):] = np.array([120, 110, 100], np.float32)
    bg += rng.normal(0, 3, bg.shape).astype(np.float32)
    return bg.clip(0, 255).astype(np.uint8)


def make_office(roster: Path, people: int, seconds: float, out: Path, truth: Path, *, fps: float = 10.0,
                size: tuple[int, int] = (1920, 1080), hfov_deg: float = 70.0, min_distance_m: float = 1.0,
                masked_fraction: float = 0.3, seed: int = 0, arrive_within_s: float | None = None,
                photo_index: int = -1, rows_m: tuple[float, float] = (3.0, 6.0),
                traits_seed: int | None = None, same_places: bool = False) -> dict[str, Any]:
    """Render the clip (mp4, BGR) and write the truth JSON; returns the truth dict.
    `arrive_within_s`: people arrive over this many seconds (default 30% of the clip; 0 = the
    office is lined up from the first frame). `rows_m`: depth of the nearest and farthest row.
    `traits_seed`: the same office on another day. Each person's IPD and head height are then
    their own (drawn from `traits_seed` and their id, the same on every day), and who stands
    where is drawn from `seed` (people take different places from day to day), or, with
    `same_places`, everybody keeps their row and rank in it every day (the gaps, steps off the
    line and masks still change); without `traits_seed` all is drawn from `seed`, as the offices
    the benches report."""
    if not 0.5 <= rows_m[0] <= rows_m[1] <= 50:
        raise ValueError(f"rows must lie between 0.5 and 50 m, nearest first; got {rows_m[0]}-{rows_m[1]} m")
    rng = np.random.default_rng(seed)
    photos = roster_photos(roster)
    if people < 1:
        raise ValueError("--people must be at least 1")
    if len(photos) < people:
        raise ValueError(f"roster {roster} has {len(photos)} people, {people} asked for")
    ids = sorted(photos)[:people]
    if traits_seed is not None and not same_places:
        ids = [ids[k] for k in np.random.default_rng([seed, 2]).permutation(people)]
    w, h = size
    f = focal_px(w, hfov_deg)
    # Head heights and standing off the row line come from their own stream, so the rest of the
    # office (who stands where in x, IPDs, masks, arrivals) is the same as without them.
    real = np.random.default_rng([seed, 1])
    spots = _layout(people, hfov_deg, rng, min_distance_m, jitter_rng=real, rows_m=rows_m)
    heads = np.clip(real.normal(HEAD_HEIGHT_M, HEAD_HEIGHT_SD_M, people), *HEAD_HEIGHT_RANGE_M)
    if traits_seed is not None:
        own = [np.random.default_rng([traits_seed, zlib.crc32(pid.encode())]) for pid in ids]
        heads = np.array([np.clip(g.normal(HEAD_HEIGHT_M, HEAD_HEIGHT_SD_M), *HEAD_HEIGHT_RANGE_M) for g in own])
        own_ipd = [float(g.normal(IPD_MEAN_M, IPD_SD_M)) for g in own]
    arrive = seconds * 0.3 if arrive_within_s is None else arrive_within_s
    pitch = math.atan2(CAMERA_HEIGHT_M - HEAD_HEIGHT_M, 4.5)
    cp, sp = math.cos(pitch), math.sin(pitch)

    def to_camera(xw: float, zw: float, head_m: float) -> tuple[float, float, float]:
        drop = CAMERA_HEIGHT_M - head_m
        return (xw, drop * cp - zw * sp, drop * sp + zw * cp)

    persons, sprites, floor = [], [], []
    for k, (pid, (x, z, row)) in enumerate(zip(ids, spots, strict=True)):
        hh = float(heads[k])
        ipd = float(rng.normal(IPD_MEAN_M, IPD_SD_M))   # drawn in any case: masks and arrivals stay as without traits
        if traits_seed is not None:
            ipd = own_ipd[k]
        masked = bool(rng.random() < masked_fraction)
        colour = SCENE_MASK_COLOURS[int(rng.integers(len(SCENE_MASK_COLOURS)))]
        candidates = [photos[pid][photo_index]] + [p for p in photos[pid] if p != photos[pid][photo_index]]
        for photo in candidates:
            try:
                sprite = _head_sprite(read_image_rgb(photo), masked, colour, f * ipd / to_camera(x, z, hh)[2])
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"roster {roster / pid}: no photo with a usable face")
        appear = 0.0 if rng.random() < 0.4 else float(rng.uniform(0, arrive))
        cx, cy, cz = to_camera(x, z, hh)
        persons.append(SynthPerson(pid, str(photo), (round(cx, 4), round(cy, 4), round(cz, 4)), masked,
                                   round(appear, 2), ipd, round(hh, 4), row))
        floor.append((x, z))
        sprites.append(sprite)
    bg = _background(w, h, rng)
    order = sorted(range(people), key=lambda i: -floor[i][1])
    phase = rng.uniform(0, 2 * math.pi, (people, 2))
    clothes = rng.integers(30, 200, (people, 3))
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))  # type: ignore[attr-defined]
    if not writer.isOpened():
        raise RuntimeError(f"cannot write video {out}")
    try:
        for k in range(int(round(seconds * fps))):
            t = k / fps
            frame = bg.astype(np.float32)
            for i in order:
                p = persons[i]
                if t < p.appear_s:
                    continue
                x, y, z = to_camera(floor[i][0] + 0.02 * math.sin(2 * math.pi * 0.25 * t + phase[i, 0]),
                                    floor[i][1] + 0.01 * math.sin(2 * math.pi * 0.4 * t + phase[i, 1]),
                                    p.head_height_m)
                u, v = w / 2 + f * x / z, h / 2 + f * y / z
                # Shoulders and torso under the head.
                sh = f * 0.46 / z
                top = int(v + f * 0.14 / z)
                cv2.ellipse(frame, (int(u), int(top + sh * 0.9)), (int(sh / 2), int(sh)), 0, 0, 360,
                            tuple(float(c) for c in clothes[i]), -1)
                spr, alpha, (ox, oy) = sprites[i]
                x0, y0 = int(round(u - ox)), int(round(v - oy))
                sx0, sy0 = max(0, -x0), max(0, -y0)
                x1, y1 = min(w, x0 + spr.shape[1]), min(h, y0 + spr.shape[0])
                if x1 <= max(0, x0) or y1 <= max(0, y0):
                    continue
                a = alpha[sy0:sy0 + y1 - max(0, y0), sx0:sx0 + x1 - max(0, x0), None]
                region = frame[max(0, y0):y1, max(0, x0):x1]
                rgb_part = spr[sy0:sy0 + region.shape[0], sx0:sx0 + region.shape[1]].astype(np.float32)
                region[:] = region * (1 - a) + rgb_part * a
            writer.write(cv2.cvtColor(frame.clip(0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    viol = []
    for i in range(people):
        for j in range(i + 1, people):
            d = math.hypot(floor[i][0] - floor[j][0], floor[i][1] - floor[j][1])
            if d < min_distance_m:
                viol.append([persons[i].id, persons[j].id, round(d, 3)])
    data = {"width": w, "height": h, "fps": fps, "seconds": seconds, "hfov_deg": hfov_deg,
            "min_distance_m": min_distance_m, "camera_height_m": CAMERA_HEIGHT_M,
            "camera_pitch_deg": round(math.degrees(pitch), 2),
            "head_heights_m": {"mean": HEAD_HEIGHT_M, "sd": HEAD_HEIGHT_SD_M, "range": list(HEAD_HEIGHT_RANGE_M)},
            "row_depth_sd_m": ROW_DEPTH_SD_M, "row_lines_m": row_lines_m(people, rows_m), "traits_seed": traits_seed,
            "same_places": same_places,
            "people": [dict(asdict(p), floor_m=[round(floor[i][0], 4), round(floor[i][1], 4)])
                       for i, p in enumerate(persons)],
            "violations": viol}
    truth.parent.mkdir(parents=True, exist_ok=True)
    tmp = truth.with_suffix(truth.suffix + ".part")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(truth)
    return data
