"""A ZIP of enrolment photos named by NIP, checked as hostile input before anything is extracted."""
from __future__ import annotations

import io
import re
import stat
import zipfile
from pathlib import PurePosixPath

from attendance.errors import Invalid, TooLarge
from attendance.nip import normalise_nip, split_leading_nip
from attendance.roster.common import valid_nip
from attendance.roster.photos import PHOTO_SUFFIXES, PhotoLimits

MAX_ZIP_RATIO = 50  # uncompressed/compressed: photos barely compress, a zip bomb compresses enormously


def _nip_from_name(member: PurePosixPath) -> str | None:
    """`<NIP>.jpg`, `<NIP>_2.jpg`, `<NIP> (2).png` or `<NIP>/<anything>.jpg`. A folder named by a NIP
    decides whatever its photos are called: a phone names them by date and time (`20240315_083012.jpg`),
    which starts with digits too. None when no name starts with digits; otherwise the digits found, so
    that a wrong NIP is refused with its reason."""
    names = [*reversed(member.parts[:-1]), member.stem]   # the nearest folder first, the file name last
    found = [normalise_nip(split_leading_nip(n)[0]) for n in names]
    for digits in found:
        if len(digits) == 18 and digits.isdigit():
            return digits
    return next((d for d in found if d), None)


def _unsafe_member_name(name: str) -> bool:
    if "\x00" in name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part == ".." for part in name.split("/"))


def read_photo_zip(data: bytes, *, limits: PhotoLimits, max_zip_bytes: int,
                   max_files: int) -> list[tuple[str, str, bytes]]:
    """Like `scan_photo_zip`, refusing the ZIP when any entry is wrong."""
    out, errors = scan_photo_zip(data, limits=limits, max_zip_bytes=max_zip_bytes, max_files=max_files)
    if errors:
        raise entry_problems(errors)
    return out


def entry_problems(errors: list[str]) -> Invalid:
    return Invalid("zip_entries", f"{len(errors)} problem(s) in the ZIP: " + "; ".join(errors[:20]),
                   details={"errors": errors})


def scan_photo_zip(data: bytes, *, limits: PhotoLimits, max_zip_bytes: int,
                   max_files: int) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """A ZIP of photos named by NIP -> ([(member name, nip, bytes)], [problem of one entry]). Checks,
    before extracting anything: total size, entry count, path traversal, symlinks, encryption, declared
    and actual sizes and compression ratio (zip bombs); raises Invalid (TooLarge for size) when the
    whole ZIP is refused. An entry's problem is listed, not raised, so that HR sees every one at once."""
    if len(data) > max_zip_bytes:
        raise TooLarge("zip_too_large", f"the ZIP is {len(data):,} bytes; the limit is {max_zip_bytes:,}")
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
            errors.append(f"{info.filename}: the file name (or its folder's) must start with the employee's NIP")
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
    return out, errors
