"""Enrolment photos: every untrusted byte checked, then analysed into a face template off the event loop.

`decode_image` accepts only JPEG, PNG and WebP by their magic bytes and checks the byte size and the
pixel count from the header before decoding (decompression bombs). `analyse_photo` is pure and
CPU-bound, so the web service runs it in worker processes (`EnrolmentWorkers`: dlib holds the GIL, a
thread would stall the event loop) and the CLI runs it in-process.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from attendance.errors import ApelError, Invalid, TooLarge, Unavailable

FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_request_pixels: int = 2_000_000_000   # every photo of one bulk upload together, from their headers
    min_face_px: int = 80
    recogniser: str = "dlib+faceres"     # settings.recogniser_spec: "dlib+faceres", "dlib" or an ONNX model path

    @classmethod
    def from_settings(cls, settings: Any) -> PhotoLimits:
        return cls(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels,
                   max_request_pixels=settings.max_upload_pixels, min_face_px=settings.min_face_px,
                   recogniser=settings.recogniser_spec)


@dataclass
class AnalysedPhoto:
    """The picklable outcome of one photo: either templates or the reason it was rejected."""

    name: str
    sha256: str
    format: str | None = None
    width: int = 0
    height: int = 0
    embedding: bytes | None = None          # float32 little-endian
    masked: list[bytes] = field(default_factory=list)
    quality: float = 0.0
    box: tuple[int, int, int, int] | None = None
    backend: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_status: int = 422

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def refusal(self) -> ApelError:
        """Why the photo cannot be enrolled, as the error to raise (413 for size, 422 otherwise)."""
        return Invalid(self.error_code or "rejected", self.error_message or "photo rejected", self.error_status)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.name, "sha256": self.sha256, "accepted": self.ok}
        if self.ok:
            out.update(quality=round(self.quality, 3), box=list(self.box or ()), width=self.width,
                       height=self.height, masked_variants=len(self.masked))
        else:
            out.update(code=self.error_code, reason=self.error_message)
        return out


def sniff_format(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def declared_pixels(data: bytes) -> int:
    """The pixel count an image's header declares (0 when it is not a readable image): what decoding
    it will cost, known without decoding it."""
    fmt = sniff_format(data)
    if fmt is None:
        return 0
    try:
        w, h = Image.open(io.BytesIO(data), formats=[fmt]).size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 0
    return int(w) * int(h)


def refuse_costly_upload(photos: list[tuple[str, bytes]], limits: PhotoLimits) -> None:
    """One upload may not ask for more decoding than `max_request_pixels` in all: ten 36 MP images
    compress to a few kilobytes each and cost the worker half a minute. Checked from the headers,
    before any photo is decoded; a larger roster is uploaded in parts."""
    total = sum(declared_pixels(data) for _, data in photos)
    if total > limits.max_request_pixels:
        raise TooLarge("upload_too_many_pixels",
                       f"the photos of this upload add up to {total / 1e6:,.0f} megapixels; one upload may hold "
                       f"at most {limits.max_request_pixels / 1e6:,.0f}: upload the roster in parts",
                       details={"pixels": total, "limit": limits.max_request_pixels})


def decode_image(data: bytes, limits: PhotoLimits) -> tuple[np.ndarray, str]:
    """Bytes -> (RGB uint8 array, format). Raises Invalid (TooLarge for size) with a clear reason."""
    if len(data) > limits.max_bytes:
        raise TooLarge("too_large", f"file is {len(data):,} bytes; the limit is {limits.max_bytes:,}")
    if not data:
        raise Invalid("empty", "file is empty")
    fmt = sniff_format(data)
    if fmt is None:
        raise Invalid("not_image", "not a JPEG, PNG or WebP image")
    try:
        # Image.open reads only the header: the pixel count is known before any decoding.
        img: Image.Image = Image.open(io.BytesIO(data), formats=[fmt])
        w, h = img.size
        if w * h > limits.max_pixels:
            raise TooLarge("too_many_pixels", f"image is {w}x{h} = {w * h:,} pixels; the limit is "
                           f"{limits.max_pixels:,}")
        if w < 16 or h < 16:
            raise Invalid("too_small", f"image is only {w}x{h} pixels")
        img.load()  # a truncated or corrupt file fails here
        img = ImageOps.exif_transpose(img)
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise TooLarge("too_many_pixels", f"image is too large to decode safely ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise Invalid("corrupt", f"the {fmt} file is corrupt or truncated ({exc})") from None
    return np.ascontiguousarray(rgb), fmt


def analyse_photo(data: bytes, limits: PhotoLimits, name: str = "photo") -> AnalysedPhoto:
    """Decode and compute the face template. Pure: safe to run in a worker process. Never raises
    for a bad photo: the reason comes back in the result (custom exceptions pickle badly)."""
    result = AnalysedPhoto(name=name, sha256=hashlib.sha256(data).hexdigest())
    try:
        rgb, fmt = decode_image(data, limits)
    except ApelError as exc:
        result.error_code, result.error_message, result.error_status = exc.code, exc.message, exc.status
        return result
    result.format, result.height, result.width = fmt, rgb.shape[0], rgb.shape[1]
    try:
        from attendance.vision.enrol import FaceRejected, enrol_face
    except ImportError as exc:  # pragma: no cover - only when the vision package is broken
        result.error_code, result.error_message, result.error_status = "vision_unavailable", str(exc), 503
        return result
    try:
        face = enrol_face(rgb, min_face_px=limits.min_face_px, recogniser=limits.recogniser)
    except FaceRejected as exc:
        result.error_code, result.error_message = exc.code, exc.message
        return result
    result.embedding = np.asarray(face.embedding, dtype="<f4").tobytes()
    result.masked = [np.asarray(m, dtype="<f4").tobytes() for m in face.masked_embeddings]
    result.quality = float(face.quality)
    result.box = tuple(int(v) for v in face.box)  # type: ignore[assignment]
    result.backend = face.backend
    return result


ORPHAN_CHECK_S = 1.0


def _exit_when_orphaned(parent: int) -> None:
    """Initializer of every enrolment worker. A pool's worker waits for work forever; when the server
    is killed (kill -9, OOM) nobody tells it, and it would linger with dlib's models in memory. A
    daemon thread notices that its parent is gone (the worker was adopted) and ends the process."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="apel-orphan-watch", daemon=True).start()


class EnrolmentWorkers:
    """Process pools for template computation, so the event loop never waits on dlib. Two lanes, each
    its own pool made on first use: single photos, and bulk uploads. A bulk upload is hundreds of
    photos of up to the pixel limit each; in one queue, another HR's single photo would wait behind
    all of them. Each lane is FIFO within itself."""

    LANES = ("single", "bulk")

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pools: dict[str, ProcessPoolExecutor] = {}

    def _executor(self, lane: str) -> ProcessPoolExecutor:
        pool = self._pools.get(lane)
        if pool is None:
            # spawn: a forked copy of a threaded server (uvicorn, aiortc) can deadlock.
            pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_exit_when_orphaned, initargs=(os.getpid(),))
            self._pools[lane] = pool
        return pool

    def processes(self) -> list[int]:
        """The worker processes' pids (for the tests that kill the server)."""
        return [p.pid for pool in self._pools.values() for p in (pool._processes or {}).values() if p.pid]

    async def _run(self, lane: str, data: bytes, limits: PhotoLimits, name: str) -> AnalysedPhoto:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(lane), analyse_photo, data, limits, name)
        except BrokenProcessPool:
            self._pools.pop(lane, None)  # the next request gets a fresh pool
            raise Unavailable("worker_crashed", "the face worker stopped; try again") from None

    async def analyse(self, data: bytes, limits: PhotoLimits, name: str = "photo") -> AnalysedPhoto:
        return await self._run("single", data, limits, name)

    async def analyse_many(self, items: list[tuple[str, bytes]], limits: PhotoLimits) -> list[AnalysedPhoto]:
        return list(await asyncio.gather(*(self._run("bulk", data, limits, name) for name, data in items)))

    def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
