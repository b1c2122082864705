"""Enrolment: photos in, face templates out, with every untrusted byte checked on the way.

- `decode_image` only accepts JPEG, PNG and WebP by their magic bytes, checks the byte size and the
  pixel count from the header *before* decoding (decompression bombs), applies EXIF orientation.
- `analyse_photo` (decode + `attendance.vision.enrol.enrol_face`) is pure and CPU-bound; the web
  service runs it in worker processes (`EnrolmentWorkers`; dlib holds the GIL, so a thread would
  stall the event loop), the CLI runs it in-process.
- Writing is separate (`store_templates`), so bulk enrolment can analyse everything first and then
  write all of it in one transaction, or nothing.
- The photo itself is not kept unless `keep_enrolment_photos` is set (UU PDP: store only what is needed).
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
import re
import stat
import zipfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance import audit
from attendance.models import Employee, FaceTemplate
from attendance.roster import (
    Conflict, Invalid, RosterError, actor_name, check_employee_input, employee_by_nip, employee_dict, get_employee,
    office_by_code, valid_nip)

log = logging.getLogger("apel.enrolment")

FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
MAX_CSV_ROWS = 10_000
MAX_ZIP_RATIO = 50  # uncompressed/compressed; photos barely compress, a bomb compresses ~1000x


class PhotoRejected(RosterError):
    """A photo that cannot be enrolled. 413 for size, 422 for everything else."""

    status = 422

    def __init__(self, code: str, message: str, *, status: int | None = None, details: Any = None) -> None:
        super().__init__(code, message, details=details)
        if status is not None:
            self.status = status


class ServiceUnavailable(RosterError):
    status = 503


@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_face_px: int = 80
    recogniser: str = "dlib+faceres"     # settings.recogniser_spec: "dlib+faceres", "dlib" or an ONNX model path

    @classmethod
    def from_settings(cls, settings: Any) -> PhotoLimits:
        return cls(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels,
                   min_face_px=settings.min_face_px, recogniser=settings.recogniser_spec)


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

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.name, "sha256": self.sha256, "accepted": self.ok}
        if self.ok:
            out.update(quality=round(self.quality, 3), box=list(self.box or ()), width=self.width,
                       height=self.height, masked_variants=len(self.masked))
        else:
            out.update(code=self.error_code, reason=self.error_message)
        return out


# ---------------------------------------------------------------- decoding

def sniff_format(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(data: bytes, limits: PhotoLimits) -> tuple[np.ndarray, str]:
    """Bytes -> (RGB uint8 array, format). Raises PhotoRejected with a clear reason."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(data) > limits.max_bytes:
        raise PhotoRejected("too_large", f"file is {len(data):,} bytes; the limit is {limits.max_bytes:,}", status=413)
    if not data:
        raise PhotoRejected("empty", "file is empty")
    fmt = sniff_format(data)
    if fmt is None:
        raise PhotoRejected("not_image", "not a JPEG, PNG or WebP image")
    try:
        # Image.open reads only the header: the pixel count is known before any decoding.
        img = Image.open(io.BytesIO(data), formats=[fmt])
        w, h = img.size
        if w * h > limits.max_pixels:
            raise PhotoRejected("too_many_pixels", f"image is {w}x{h} = {w * h:,} pixels; the limit is "
                                f"{limits.max_pixels:,}", status=413)
        if w < 16 or h < 16:
            raise PhotoRejected("too_small", f"image is only {w}x{h} pixels")
        img.load()  # a truncated or corrupt file fails here
        img = ImageOps.exif_transpose(img)
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except PhotoRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise PhotoRejected("too_many_pixels", f"image is too large to decode safely ({exc})", status=413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise PhotoRejected("corrupt", f"the {fmt} file is corrupt or truncated ({exc})") from None
    return np.ascontiguousarray(rgb), fmt


def analyse_photo(data: bytes, limits: PhotoLimits, name: str = "photo") -> AnalysedPhoto:
    """Decode and compute the face template. Pure: safe to run in a worker process. Never raises
    for a bad photo: the reason comes back in the result (custom exceptions pickle badly)."""
    result = AnalysedPhoto(name=name, sha256=hashlib.sha256(data).hexdigest())
    try:
        rgb, fmt = decode_image(data, limits)
    except PhotoRejected as exc:
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


class EnrolmentWorkers:
    """A small process pool for template computation, so the event loop never waits on dlib."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            # spawn: a forked copy of a threaded server (uvicorn, aiortc) can deadlock.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    async def analyse(self, data: bytes, limits: PhotoLimits, name: str = "photo") -> AnalysedPhoto:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), analyse_photo, data, limits, name)
        except BrokenProcessPool:
            self._pool = None  # the next request gets a fresh pool
            raise ServiceUnavailable("worker_crashed", "the face worker stopped; try again") from None

    async def analyse_many(self, items: list[tuple[str, bytes]], limits: PhotoLimits) -> list[AnalysedPhoto]:
        return list(await asyncio.gather(*(self.analyse(data, limits, name) for name, data in items)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# ---------------------------------------------------------------- storing

def find_duplicate(session: Session, sha256: str) -> FaceTemplate | None:
    return session.execute(
        select(FaceTemplate).where(FaceTemplate.source_sha256 == sha256, FaceTemplate.kind == "photo").limit(1)
    ).scalar_one_or_none()


def check_not_duplicate(session: Session, photo: AnalysedPhoto, employee: Employee | None) -> None:
    dup = find_duplicate(session, photo.sha256)
    if dup is None:
        return
    if employee is not None and dup.employee_id == employee.id:
        raise Conflict("duplicate_photo", f"{photo.name}: this photo is already enrolled for this employee")
    other = session.get(Employee, dup.employee_id)
    who = f"NIP {other.nip}" if other else f"employee {dup.employee_id}"
    raise Conflict("duplicate_photo", f"{photo.name}: this exact photo is already enrolled for {who}")


@dataclass
class PendingPhoto:
    """A photo file to write after the transaction commits (only when photos are kept)."""

    path: Path
    data: bytes


def store_templates(session: Session, employee: Employee, photo: AnalysedPhoto, *, actor: Any,
                    keep_dir: Path | None = None, data: bytes | None = None) -> tuple[list[FaceTemplate], list[PendingPhoto]]:
    """Write one analysed photo as FaceTemplate rows (photo + masked variants), audited."""
    if not photo.ok or photo.embedding is None:
        raise PhotoRejected(photo.error_code or "rejected", photo.error_message or "photo rejected",
                            status=photo.error_status)
    pending: list[PendingPhoto] = []
    photo_path: str | None = None
    if keep_dir is not None and data is not None:
        path = keep_dir / "photos" / str(employee.id) / f"{photo.sha256}{FORMATS.get(photo.format or '', '.img')}"
        photo_path = str(path)
        pending.append(PendingPhoto(path, data))
    who = actor_name(actor)
    rows = [FaceTemplate(employee_id=employee.id, backend=photo.backend or "dlib-128", embedding=photo.embedding,
                         kind="photo", source_sha256=photo.sha256, quality=photo.quality, photo_path=photo_path,
                         created_by=who)]
    rows += [FaceTemplate(employee_id=employee.id, backend=photo.backend or "dlib-128", embedding=m, kind="masked",
                          source_sha256=photo.sha256, quality=photo.quality, created_by=who) for m in photo.masked]
    session.add_all(rows)
    session.flush()
    audit.record(session, actor=who, action="employee.enrol_photo", entity="employee", entity_id=employee.id,
                 after={"nip": employee.nip, "sha256": photo.sha256, "quality": round(photo.quality, 3),
                        "templates": [t.id for t in rows], "photo_kept": photo_path is not None})
    return rows, pending


def write_pending(pending: list[PendingPhoto]) -> None:
    for p in pending:
        p.path.parent.mkdir(parents=True, exist_ok=True)
        p.path.write_bytes(p.data)
        p.path.chmod(0o600)


def remove_photo_files(paths: list[str]) -> None:
    for p in paths:
        try:
            Path(p).unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove kept photo %s", p)


def erase_templates(session: Session, employee_id: int, *, actor: Any, reason: str | None = None) -> list[str]:
    """Delete every face template of one person, and what the cameras learned of their face (the
    right to erasure); returns kept photo paths."""
    emp = get_employee(session, employee_id)
    templates = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp.id)).scalars().all()
    paths = [t.photo_path for t in templates if t.photo_path]
    counts: dict[str, int] = {}
    for t in templates:
        counts[t.kind] = counts.get(t.kind, 0) + 1
        session.delete(t)
    session.flush()
    # What the cameras learned of their face (IPD, eye height) is biometric data too.
    from attendance.roster.learned_geometry import erase_geometry

    learned = erase_geometry(session, emp.id)
    before = {"nip": emp.nip, "templates": counts} | ({"learned_geometry_roll_calls": learned} if learned else {})
    audit.record(session, actor=actor_name(actor), action="employee.erase_templates", entity="employee",
                 entity_id=emp.id, before=before, after={"templates": {}}, reason=reason)
    return paths


def template_dict(t: FaceTemplate, *, with_embedding: bool = False) -> dict[str, Any]:
    out = {"id": t.id, "kind": t.kind, "backend": t.backend, "quality": round(t.quality, 3),
           "source_sha256": t.source_sha256, "dim": len(t.embedding) // 4, "photo_kept": bool(t.photo_path),
           "created_at": t.created_at.isoformat() if t.created_at else None, "created_by": t.created_by}
    if with_embedding:
        out["embedding"] = [float(v) for v in np.frombuffer(t.embedding, dtype="<f4")]
    return out


# ---------------------------------------------------------------- bulk: CSV roster

COLUMN_ALIASES = {
    "nip": "nip",
    "name": "name", "nama": "name",
    "office_code": "office_code", "office": "office_code", "kode_opd": "office_code", "opd": "office_code",
    "kode_kantor": "office_code",
    "position": "position", "jabatan": "position",
    "active": "active", "aktif": "active",
}
REQUIRED_COLUMNS = ("nip", "name", "office_code")
TRUE_WORDS = {"", "1", "true", "yes", "y", "ya", "aktif", "active"}
FALSE_WORDS = {"0", "false", "no", "n", "tidak", "nonaktif", "inactive"}


@dataclass
class RosterRow:
    line: int
    nip: str
    name: str
    office_code: str
    position: str | None
    active: bool


def _decode_csv(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Invalid("csv_encoding", "the CSV is UTF-16; save it as 'CSV UTF-8 (comma delimited)'")
    if b"\x00" in data:
        raise Invalid("csv_encoding", "the CSV contains NUL bytes: it is not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Invalid("csv_encoding",
                      f"the CSV is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
                      "save it as 'CSV UTF-8 (comma delimited)'") from None


def parse_roster_csv(data: bytes, *, default_office: str | None = None,
                     max_bytes: int = 5 * 1024 * 1024) -> tuple[list[RosterRow], list[str]]:
    """CSV with a header: nip, name (nama), office_code (kode_opd), optional position (jabatan),
    active (aktif). Comma or semicolon separated (Excel in Indonesian locale writes ';').
    Raises Invalid for a file that cannot be read at all (encoding, columns); returns the rows and
    the per-line problems, so HR sees every problem of the file at once."""
    if len(data) > max_bytes:
        raise PhotoRejected("too_large", f"the CSV is {len(data):,} bytes; the limit is {max_bytes:,}", status=413)
    text = _decode_csv(data)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise Invalid("csv_empty", "the CSV is empty (a header line is needed: nip,name,office_code,position)")
    header_line = lines[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise Invalid("csv_format", f"the CSV header cannot be read: {exc}") from None
    cols: list[str] = []
    unknown: list[str] = []
    for raw in header:
        key = raw.strip().lower().replace(" ", "_")
        if key not in COLUMN_ALIASES:
            unknown.append(raw.strip() or "(empty)")
        cols.append(COLUMN_ALIASES.get(key, key))
    required = [c for c in REQUIRED_COLUMNS if not (c == "office_code" and default_office)]
    missing = [c for c in required if c not in cols]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if unknown or missing or dupes:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s): {', '.join(unknown)}")
        if dupes:
            parts.append(f"repeated column(s): {', '.join(dupes)}")
        raise Invalid("csv_columns", "wrong CSV columns: " + "; ".join(parts) +
                      " (expected: nip, name, office_code, and optionally position, active)",
                      details={"missing": missing, "unknown": unknown, "repeated": dupes, "found": header})
    rows: list[RosterRow] = []
    errors: list[str] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_CSV_ROWS:
                raise Invalid("csv_too_many_rows", f"the CSV has more than {MAX_CSV_ROWS} rows")
            if len(values) != len(cols):
                errors.append(f"line {line}: {len(values)} fields, expected {len(cols)}")
                continue
            rec = {c: v.strip() for c, v in zip(cols, values)}
            active_word = rec.get("active", "").lower()
            if active_word not in TRUE_WORDS | FALSE_WORDS:
                errors.append(f"line {line}: active must be yes/no (ya/tidak), got {rec['active']!r}")
                continue
            rows.append(RosterRow(line=line, nip=rec["nip"], name=rec.get("name", ""),
                                  office_code=rec.get("office_code") or (default_office or ""),
                                  position=rec.get("position") or None, active=active_word in TRUE_WORDS))
    except csv.Error as exc:
        raise Invalid("csv_format", f"the CSV is malformed near line {reader.line_num}: {exc}") from None
    return rows, errors


# ---------------------------------------------------------------- bulk: ZIP of photos

NIP_IN_NAME = re.compile(r"^\s*([0-9][0-9 .\-]{16,30}[0-9])")


def _nip_from_name(member: PurePosixPath) -> str | None:
    """`<NIP>.jpg`, `<NIP>_2.jpg`, `<NIP> (2).png` or `<NIP>/<anything>.jpg`."""
    for candidate in (member.stem, member.parent.name if member.parent.name else ""):
        m = NIP_IN_NAME.match(candidate)
        if m:
            digits = "".join(ch for ch in m.group(1) if ch.isdigit())
            if len(digits) == 18:
                return digits
        if candidate and candidate.split("_")[0].split(" ")[0].isdigit():
            return candidate.split("_")[0].split(" ")[0]
    return None


def _unsafe_member_name(name: str) -> bool:
    if "\x00" in name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part == ".." for part in name.split("/"))


def read_photo_zip(data: bytes, *, limits: PhotoLimits, max_zip_bytes: int, max_files: int) -> list[tuple[str, str, bytes]]:
    """A ZIP of photos named by NIP -> [(member name, nip, bytes)]. Checks, before extracting
    anything: total size, entry count, path traversal, symlinks, encryption, declared and actual
    sizes and compression ratio (zip bombs). Raises Invalid/PhotoRejected for the whole ZIP."""
    if len(data) > max_zip_bytes:
        raise PhotoRejected("zip_too_large", f"the ZIP is {len(data):,} bytes; the limit is {max_zip_bytes:,}", status=413)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise Invalid("zip_corrupt", f"not a readable ZIP file ({exc})") from None
    if len(infos) > max_files:
        raise Invalid("zip_too_many_files", f"the ZIP has {len(infos)} entries; the limit is {max_files}")
    bad_names = [i.filename for i in infos if _unsafe_member_name(i.filename)]
    if bad_names:
        raise Invalid("zip_path_traversal", "the ZIP has unsafe paths (absolute or with '..'): "
                      + ", ".join(repr(n) for n in bad_names[:10]))
    links = [i.filename for i in infos if stat.S_ISLNK(i.external_attr >> 16)]
    if links:
        raise Invalid("zip_symlink", "the ZIP contains symbolic links: " + ", ".join(links[:10]))
    total_declared = sum(i.file_size for i in infos)
    if total_declared > max_zip_bytes:
        raise Invalid("zip_bomb", f"the ZIP would expand to {total_declared:,} bytes; the limit is {max_zip_bytes:,}")
    out: list[tuple[str, str, bytes]] = []
    errors: list[str] = []
    for info in infos:
        if info.is_dir():
            continue
        member = PurePosixPath(info.filename)
        if member.parts[0] == "__MACOSX" or member.name.startswith(".") or member.name.lower() == "thumbs.db":
            continue  # OS clutter added by archivers
        if info.flag_bits & 0x1:
            raise Invalid("zip_encrypted", f"{info.filename}: encrypted entries are not supported")
        if member.suffix.lower() not in PHOTO_SUFFIXES:
            errors.append(f"{info.filename}: not a photo (use .jpg, .png or .webp)")
            continue
        if info.file_size > limits.max_bytes:
            errors.append(f"{info.filename}: {info.file_size:,} bytes, the limit is {limits.max_bytes:,}")
            continue
        if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO and info.file_size > 1_000_000:
            raise Invalid("zip_bomb", f"{info.filename}: compression ratio "
                          f"{info.file_size / info.compress_size:.0f}:1 is not a photo")
        nip = _nip_from_name(member)
        if nip is None:
            errors.append(f"{info.filename}: the file name must start with the employee's NIP")
            continue
        try:
            nip = valid_nip(nip)
        except Invalid as exc:
            errors.append(f"{info.filename}: {exc.message}")
            continue
        try:
            with zf.open(info) as fh:
                blob = fh.read(limits.max_bytes + 1)  # never trust the declared size
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            errors.append(f"{info.filename}: cannot be extracted ({exc})")
            continue
        if len(blob) > limits.max_bytes:
            errors.append(f"{info.filename}: larger than {limits.max_bytes:,} bytes")
            continue
        out.append((info.filename, nip, blob))
    if errors:
        raise Invalid("zip_entries", f"{len(errors)} problem(s) in the ZIP: " + "; ".join(errors[:20]),
                      details={"errors": errors})
    return out


# ---------------------------------------------------------------- bulk: all or nothing

@dataclass
class BulkPlan:
    """Everything a bulk request will write, validated; nothing is written until `apply_bulk`."""

    rows: list[RosterRow] = field(default_factory=list)
    photos: list[tuple[str, str, bytes]] = field(default_factory=list)  # (member, nip, bytes)


def plan_bulk(session: Session, *, csv_bytes: bytes | None, zip_bytes: bytes | None, limits: PhotoLimits,
              max_zip_bytes: int, max_files: int, default_office: str | None = None) -> BulkPlan:
    if not csv_bytes and not zip_bytes:
        raise Invalid("bulk_empty", "send a roster CSV, a ZIP of photos, or both")
    plan = BulkPlan()
    errors: list[str] = []
    if csv_bytes:
        plan.rows, errors = parse_roster_csv(csv_bytes, default_office=default_office)
        seen: dict[str, int] = {}
        offices: dict[str, int] = {}
        for row in plan.rows:
            try:
                office_id = offices.get(row.office_code.upper())
                if office_id is None:
                    office_id = office_by_code(session, row.office_code).id
                    offices[row.office_code.upper()] = office_id
                checked = check_employee_input(session, nip=row.nip, name=row.name, office_id=office_id,
                                               position=row.position, active=row.active)
            except RosterError as exc:
                errors.append(f"line {row.line}: {exc.message}")
                continue
            row.nip = checked.nip
            if checked.nip in seen:
                errors.append(f"line {row.line}: NIP {checked.nip} repeats line {seen[checked.nip]}")
            elif employee_by_nip(session, checked.nip) is not None:
                errors.append(f"line {row.line}: NIP {checked.nip} is already registered")
            seen.setdefault(checked.nip, row.line)
        if errors:
            errors.sort(key=lambda e: int(e.split(":")[0].split()[1]))
            raise Invalid("csv_rows", f"{len(errors)} bad line(s) in the CSV: " + "; ".join(errors[:20]),
                          details={"errors": errors})
    if zip_bytes:
        plan.photos = read_photo_zip(zip_bytes, limits=limits, max_zip_bytes=max_zip_bytes, max_files=max_files)
        known = {r.nip for r in plan.rows}
        for member, nip, _ in plan.photos:
            if nip not in known and employee_by_nip(session, nip) is None:
                errors.append(f"{member}: no employee with NIP {nip} (add them to the CSV)")
        if errors:
            raise Invalid("zip_unknown_nip", f"{len(errors)} photo(s) for unknown employees: " + "; ".join(errors[:20]),
                          details={"errors": errors})
    return plan


def check_analysed(session: Session, analysed: list[AnalysedPhoto]) -> None:
    """All photos must be usable and new; otherwise reject the whole request with every reason."""
    rejected = [a.summary() for a in analysed if not a.ok]
    seen: dict[str, str] = {}
    for a in analysed:
        if not a.ok:
            continue
        if a.sha256 in seen:
            rejected.append({"file": a.name, "accepted": False, "code": "duplicate_photo",
                             "reason": f"same photo as {seen[a.sha256]}"})
            continue
        seen[a.sha256] = a.name
        dup = find_duplicate(session, a.sha256)
        if dup is not None:
            other = session.get(Employee, dup.employee_id)
            rejected.append({"file": a.name, "accepted": False, "code": "duplicate_photo",
                             "reason": f"already enrolled for NIP {other.nip if other else dup.employee_id}"})
    if rejected:
        raise Invalid("photos_rejected", f"{len(rejected)} photo(s) rejected; nothing was saved: " +
                      "; ".join(f"{r['file']}: {r['reason']}" for r in rejected[:20]),
                      details={"rejected": rejected})


def apply_bulk(session: Session, plan: BulkPlan, analysed: list[AnalysedPhoto], *, actor: Any,
               keep_dir: Path | None = None) -> tuple[dict[str, Any], list[PendingPhoto]]:
    from attendance.roster import create_employee

    check_analysed(session, analysed)
    created = []
    for row in plan.rows:
        office_id = office_by_code(session, row.office_code).id
        emp = create_employee(session, actor=actor, nip=row.nip, name=row.name, office_id=office_id,
                              position=row.position, active=row.active)
        created.append(employee_dict(emp))
    pending: list[PendingPhoto] = []
    enrolled = []
    for (member, nip, blob), photo in zip(plan.photos, analysed):
        emp = employee_by_nip(session, nip)
        assert emp is not None  # plan_bulk checked it
        _, p = store_templates(session, emp, photo, actor=actor, keep_dir=keep_dir, data=blob)
        pending += p
        enrolled.append({"nip": nip, **photo.summary()})
    return {"created": created, "enrolled": enrolled}, pending


# ---------------------------------------------------------------- folder import (apel enroll)

@dataclass
class FolderPerson:
    folder: Path
    nip: str | None
    name: str | None
    photos: list[Path]
    error: str | None = None


def scan_folder(root: Path) -> list[FolderPerson]:
    """One subfolder per person: `<NIP>` or `<NIP>_<Name>` / `<NIP> - <Name>`."""
    people = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        m = re.match(r"^([0-9 ]{18,24}?)(?:\s*[-_]\s*(.+))?$", sub.name)
        photos = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
        if not m:
            people.append(FolderPerson(sub, None, None, photos, "folder name must be the NIP (or NIP_Name)"))
            continue
        try:
            nip = valid_nip(m.group(1))
        except Invalid as exc:
            people.append(FolderPerson(sub, None, None, photos, exc.message))
            continue
        name = m.group(2).replace("_", " ").strip() if m.group(2) else None
        people.append(FolderPerson(sub, nip, name, photos, None if photos else "no .jpg/.png/.webp photos"))
    return people


# ---------------------------------------------------------------- personal data export (UU PDP)

def _jsonable(value: Any) -> Any:
    import base64
    from datetime import date, datetime

    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def export_person(session: Session, employee_id: int, *, actor: Any) -> dict[str, Any]:
    """Everything stored about one person: the employee row, face templates (with embeddings),
    every row of any table that references the employee (attendance and so on, whichever areas
    add them), kept photos, and the audit entries about them. The export itself is audited."""
    import base64

    from sqlalchemy import MetaData, Table

    from attendance.models import AuditEntry, Base

    emp = get_employee(session, employee_id)
    out: dict[str, Any] = {"employee": {**employee_dict(emp), "office_code": emp.office.code,
                                        "created_at": _jsonable(emp.created_at),
                                        "updated_at": _jsonable(emp.updated_at)}}
    templates = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp.id)
                                .order_by(FaceTemplate.id)).scalars().all()
    out["face_templates"] = [template_dict(t, with_embedding=True) for t in templates]
    photos = []
    for t in templates:
        if t.photo_path and Path(t.photo_path).is_file():
            photos.append({"template_id": t.id, "base64": base64.b64encode(Path(t.photo_path).read_bytes()).decode()})
    out["photos"] = photos
    # Tables other areas add (attendance, sightings, corrections...) are found by their foreign key,
    # reflected from the live database so migrations beyond this module's knowledge are included.
    reflected = MetaData()
    bind = session.get_bind()
    related: dict[str, list[dict[str, Any]]] = {}
    table_names = set(Base.metadata.tables)
    from sqlalchemy import inspect as sa_inspect

    table_names |= set(sa_inspect(bind).get_table_names())
    for name in sorted(table_names - {"employees", "face_templates", "audit_log", "alembic_version"}):
        try:
            table = Table(name, reflected, autoload_with=bind)
        except Exception:  # noqa: BLE001 - a table we cannot reflect is skipped, not fatal
            continue
        refs = [c for c in table.columns
                if any(fk.column.table.name == "employees" for fk in c.foreign_keys)]
        if not refs:
            continue
        cond = refs[0] == emp.id
        for c in refs[1:]:
            cond = cond | (c == emp.id)
        rows = session.execute(select(table).where(cond)).mappings().all()
        if rows:
            related[name] = [{k: _jsonable(v) for k, v in r.items()} for r in rows]
    out["related_records"] = related
    entries = session.execute(select(AuditEntry).where(AuditEntry.entity == "employee",
                                                       AuditEntry.entity_id == str(emp.id))
                              .order_by(AuditEntry.id)).scalars().all()
    out["audit"] = [{"at": _jsonable(a.at), "actor": a.actor, "action": a.action, "before": a.before,
                     "after": a.after, "reason": a.reason} for a in entries]
    audit.record(session, actor=actor_name(actor), action="employee.export", entity="employee",
                 entity_id=emp.id, after={"nip": emp.nip, "templates": len(templates)})
    return out
