"""Masks of styles the product's enrolment variants never paint, drawn on a face from its 68
landmarks, for bench_masked_styles.py.

The product paints its enrolment variants as a plain fill of `faces.mask_polygon` (jaw to nose
bridge) in three colours (`faces.MASK_COLOURS_RGB`). A bench that probes with that same look
measures the variants' own reflection, so these differ in shape (a pleated surgical rectangle,
a contoured cloth mask, a KN95 outline with its seam), colour and texture (woven noise, batik
drawn procedurally: kawung's four-petal rings, parang's diagonal waves), and some are cut from
real photos of masked people (masks/real) and carried onto the face by landmarks.
Every painter takes (rgb image, 68 landmarks) and returns a painted copy."""
from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

Painter = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _frame(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The face's own axes: origin at the nose bridge (27), u from the left to the right eye, v
    down the face, and the face's width (jaw 0 to 16)."""
    el, er = pts[36:42].mean(0), pts[42:48].mean(0)
    u = (er - el) / max(1e-6, float(np.linalg.norm(er - el)))
    v = np.array([-u[1], u[0]], np.float32)
    return pts[27], u, v, float(np.linalg.norm(pts[16] - pts[0]))


def _composite(img: np.ndarray, poly: np.ndarray, texture: np.ndarray, feather: float = 1.5) -> np.ndarray:
    """`texture` (an image of img's size) inside `poly`, its edge softened by `feather` px, lightly
    shaded top to bottom as cloth is."""
    layer = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(layer, [np.round(poly).astype(np.int32)], 255)
    a = cv2.GaussianBlur(layer.astype(np.float32) / 255.0, (0, 0), feather)[:, :, None] if feather else \
        layer.astype(np.float32)[:, :, None] / 255.0
    ys = np.flatnonzero(layer.any(axis=1))
    shade = np.ones((img.shape[0], 1, 1), np.float32)
    if len(ys):
        t = np.clip((np.arange(img.shape[0]) - ys[0]) / max(1, ys[-1] - ys[0]), 0, 1)
        shade[:, 0, 0] = 1.0 - 0.15 * t
    out = img.astype(np.float32) * (1 - a) + np.clip(texture.astype(np.float32) * shade, 0, 255) * a
    return out.clip(0, 255).astype(np.uint8)


def _grid(img: np.ndarray, origin: np.ndarray, u: np.ndarray, v: np.ndarray, width: float):
    """Each pixel's coordinates in the face's frame, in face widths."""
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.float32)
    dx, dy = xx - origin[0], yy - origin[1]
    return (dx * u[0] + dy * u[1]) / width, (dx * v[0] + dy * v[1]) / width


def _cloth_poly(pts: np.ndarray, top: float = 0.25, below: float = 0.06) -> np.ndarray:
    """A contoured mask: along the jaw (2-14) pushed `below` face widths down, up the cheeks to the
    nose bridge, `top` of the way from 27 to 30."""
    o, u, v, w = _frame(pts)
    jaw = pts[2:15] + v * below * w
    bridge = pts[27] + top * (pts[30] - pts[27])
    cheek_l = pts[1] + 0.15 * (pts[29] - pts[1])
    cheek_r = pts[15] + 0.15 * (pts[29] - pts[15])
    return np.vstack([jaw, cheek_r, bridge - u * 0.12 * w, bridge, bridge + u * 0.12 * w, cheek_l][::1])


def _line(img: np.ndarray, a: np.ndarray, b: np.ndarray, colour: tuple[int, int, int], t: int) -> None:
    cv2.line(img, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), colour, t, cv2.LINE_AA)


def _solid(img: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), img.shape).copy()


def _weave(img: np.ndarray, colour: tuple[int, int, int], seed: int, amp: float = 14.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, amp, img.shape[:2]).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.7)
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    weave = 6.0 * (np.sin(xx * 1.9) * np.sin(yy * 1.9))
    return (np.array(colour, np.float32)[None, None] + (noise + weave)[:, :, None]).clip(0, 255).astype(np.uint8)


def surgical(colour: tuple[int, int, int], pleat: tuple[int, int, int]) -> Painter:
    """A pleated rectangle from beside the nose to under the chin, with ear loops."""
    def paint(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
        o, u, v, w = _frame(pts)
        top = pts[27] + 0.45 * (pts[30] - pts[27])
        bottom = pts[8] + v * 0.07 * w
        half = 0.52 * w
        tl, tr = top - u * half, top + u * half
        bl, br = bottom - u * 0.36 * w - v * 0.05 * w, bottom + u * 0.36 * w - v * 0.05 * w
        poly = np.vstack([tl, tr, pts[15] + u * 0.02 * w, br, bottom, bl, pts[1] - u * 0.02 * w])
        tex = _solid(img, colour)
        h = float(np.dot(bottom - top, v))
        for f in (0.28, 0.48, 0.68):    # pleats
            a, b = tl + v * f * h, tr + v * f * h
            cv2.line(tex, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), pleat,
                     max(1, int(round(0.012 * w))), cv2.LINE_AA)
        out = _composite(img, poly, tex)
        t = max(1, int(round(0.008 * w)))
        for a, b in ((tl, pts[0]), (pts[1] + v * 0.25 * w, pts[2] - u * 0.05 * w)):
            _line(out, a, b, (235, 235, 235), t)
        for a, b in ((tr, pts[16]), (pts[15] + v * 0.25 * w, pts[14] + u * 0.05 * w)):
            _line(out, a, b, (235, 235, 235), t)
        return out
    return paint


def cloth(colour: tuple[int, int, int], seam: bool = True) -> Painter:
    """A contoured cloth mask, woven texture, a seam down the middle."""
    def paint(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
        o, u, v, w = _frame(pts)
        poly = _cloth_poly(pts)
        tex = _weave(img, colour, zlib.crc32(bytes(colour)))
        if seam:
            a = pts[27] + 0.25 * (pts[30] - pts[27])
            b = pts[8] + v * 0.06 * w
            dark = tuple(int(c * 0.7) for c in colour)
            cv2.line(tex, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), dark,
                     max(1, int(round(0.01 * w))), cv2.LINE_AA)
        return _composite(img, poly, tex)
    return paint


def kn95(colour: tuple[int, int, int]) -> Painter:
    """A KN95's outline: a point high on the nose bridge, straight sides to a point under the
    chin, a vertical seam and a stitched edge."""
    def paint(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
        o, u, v, w = _frame(pts)
        top = pts[27] + 0.1 * (pts[30] - pts[27])
        chin = pts[8] + v * 0.09 * w
        left = pts[2] - u * 0.03 * w
        right = pts[14] + u * 0.03 * w
        poly = np.vstack([top, pts[15] + 0.1 * (pts[29] - pts[15]), right, pts[12], chin, pts[4], left,
                          pts[1] + 0.1 * (pts[29] - pts[1])])
        tex = _weave(img, colour, 7, amp=6.0)
        edge = tuple(int(c * 0.8) for c in colour)
        t = max(1, int(round(0.01 * w)))
        cv2.line(tex, tuple(np.round(top).astype(int)), tuple(np.round(chin).astype(int)), edge, t, cv2.LINE_AA)
        inner = (poly - poly.mean(0)) * 0.93 + poly.mean(0)
        cv2.polylines(tex, [np.round(inner).astype(np.int32)], True, edge, t, cv2.LINE_AA)
        out = _composite(img, poly, tex)
        for a, b in ((left, pts[0]), (right, pts[16])):
            _line(out, a, b, (240, 240, 240), t)
        return out
    return paint


def batik(kind: str, ground: tuple[int, int, int], ink: tuple[int, int, int], accent: tuple[int, int, int]) -> Painter:
    """Batik cloth drawn procedurally in the face's frame: "kawung" (rings of four oval petals
    on a grid) or "parang" (diagonal bands of waves)."""
    def paint(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
        o, u, v, w = _frame(pts)
        a, b = _grid(img, o, u, v, w)
        if kind == "kawung":
            p = 0.16                                  # one motif every 0.16 face widths
            x = (a / p) % 1.0 - 0.5
            y = (b / p) % 1.0 - 0.5
            petal = np.zeros_like(a, bool)
            for sx, sy in ((0.25, 0.0), (-0.25, 0.0), (0.0, 0.25), (0.0, -0.25)):
                rx, ry = (0.2, 0.11) if sx else (0.11, 0.2)
                petal |= ((x - sx) / rx) ** 2 + ((y - sy) / ry) ** 2 <= 1.0
            ring = np.abs(np.hypot(x, y) - 0.48) < 0.04
            dot = np.hypot(x, y) < 0.06
            tex = _solid(img, ground)
            tex[petal] = ink
            tex[ring | dot] = accent
        else:
            s = (a + b) / 0.13
            wave = np.sin((a - b) * 40.0) * 0.18
            band = (s + wave) % 1.0
            tex = _solid(img, ground)
            tex[band < 0.35] = ink
            tex[(band > 0.5) & (band < 0.6)] = accent
        tex = cv2.GaussianBlur(tex, (0, 0), 0.6)
        return _composite(img, _cloth_poly(pts), tex)
    return paint


def plain(colour: tuple[int, int, int]) -> Painter:
    """The enrolment variants' own shape (faces.mask_polygon), a plain fill: the held-back check's
    look (it painted surgical blue, white, black, tan and grey cloth this way)."""
    from attendance.vision.faces import paint_mask

    def paint(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
        return paint_mask(img, pts, colour)
    return paint


# -- masks cut from real photos ---------------------------------------------------------------
# The landmarks that carry a real mask from its photo onto another face: the jaw (under the
# mask, where the 68-point model places it from the face's outline) and the nose bridge.
_CARRY = list(range(1, 16)) + [27, 28]


def real_source(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(rgb, 68 landmarks) of the largest face in a masks/real photo, or None."""
    from attendance.vision.detect.detector import DetectorConfig, detect_faces
    from attendance.vision.enrol import detect_enrolment_faces
    from attendance.vision.faces import landmarks68

    bgr = cv2.imread(str(path))
    if bgr is None:
        return None
    s = min(1.0, 800 / max(bgr.shape[:2]))
    bgr = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else bgr
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    boxes = [b for b, _ in detect_faces(rgb, DetectorConfig(min_face_px=90, max_work_pixels=2e6))]
    if not boxes:
        boxes = [b for b, _ in detect_enrolment_faces(rgb)]
    if not boxes:
        return None
    box = max(boxes, key=lambda b: b[2])
    if box[2] < 90:
        return None
    return rgb, landmarks68(rgb, box)


def transplant(source: tuple[np.ndarray, np.ndarray]) -> Painter:
    """The mask of a real photo (inside its `faces.mask_polygon`, shrunk a little so the edge
    of the cut stays on the mask) warped onto the face by a similarity fitted on the jaw and
    nose-bridge landmarks."""
    from attendance.vision.faces import mask_polygon
    src_rgb, src_pts = source

    def paint(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
        m, _ = cv2.estimateAffinePartial2D(src_pts[_CARRY], pts[_CARRY], method=cv2.LMEDS)
        if m is None:
            return img.copy()
        warped = cv2.warpAffine(src_rgb, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        poly = mask_polygon(pts).astype(np.float32)
        poly = (poly - poly.mean(0)) * 1.04 + poly.mean(0)
        layer = np.zeros(img.shape[:2], np.uint8)
        cv2.fillPoly(layer, [np.round(poly).astype(np.int32)], 255)
        a = cv2.GaussianBlur(layer.astype(np.float32) / 255.0, (0, 0), 1.5)[:, :, None]
        return (img.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a).clip(0, 255).astype(np.uint8)
    return paint
