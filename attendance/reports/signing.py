"""Ed25519 signatures for exported reports.

The scheme (why it is built this way):
- A report is rendered *with* a visible signature block (signer, key fingerprint, signing time,
  document id) already printed in it. Only then are the final file bytes signed: the signature
  covers exactly what the reader holds, including that block, so no byte of the file (data or block)
  can change without detection, and nothing has to be patched into the file after signing (which is
  what makes embedded PDF signatures fragile).
- The signature travels in a detached JSON file (`<file>.sig`): the SHA-256 and size of the file,
  the claims printed in the block, the signer's public key, and an Ed25519 signature over the
  canonical JSON of all of those. Verification recomputes the hash from the file, checks the
  signature, and then asks whether the key is one this installation trusts (its own key, an
  HR-provided key, or public keys dropped in `<data_dir>/signing/trusted/`): a forger can always
  sign a changed file with a key of their own, so "valid" alone would mean nothing.
- One key per installation, generated on first use in `<data_dir>/signing/` (private key mode
  0600, created atomically so two processes cannot race), unless HR provides one (`SigningSettings`;
  the service fills it from APEL_SIGNING_KEY_PATH, APEL_SIGNING_KEY_PASSWORD and APEL_SIGNER_NAME).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIG_VERSION = 1
SIG_SUFFIX = ".sig"
MAX_SIG_BYTES = 64 * 1024


@dataclass(frozen=True)
class SigningSettings:
    """Which key signs and the name printed as signer; the caller passes them in (the domain reads no
    environment). Without a key path the installation's own key is used."""

    signing_key_path: Path | None = None       # HR's Ed25519 key, PEM (PKCS#8)
    signing_key_password: str | None = None    # when that key is encrypted
    signer_name: str | None = None             # None: load_signer's default name


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex; shown grouped (see `short_fingerprint`)."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()


def short_fingerprint(fp: str) -> str:
    return " ".join(fp[i:i + 4] for i in range(0, 32, 4)).upper()


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class SignatureClaims:
    """What the visible block on the document says; the same values go into the .sig file."""

    document_id: str
    signer: str
    key_fingerprint: str
    signed_at: str  # ISO 8601 UTC, seconds

    @property
    def short_fingerprint(self) -> str:
        return short_fingerprint(self.key_fingerprint)


class Signer:
    """Holds the installation's private key; signs file bytes."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str, source: str):
        self._key = private_key
        self.name = name
        self.source = source  # where the key came from, for `apel verify --show-key`
        self.public_key = private_key.public_key()
        self.fingerprint = fingerprint(self.public_key)

    def claims(self, *, now: datetime | None = None) -> SignatureClaims:
        at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        return SignatureClaims(document_id=uuid.uuid4().hex, signer=self.name,
                               key_fingerprint=self.fingerprint, signed_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def sign(self, data: bytes, claims: SignatureClaims, *, filename: str) -> dict[str, Any]:
        """The detached signature document for exactly these bytes."""
        if claims.key_fingerprint != self.fingerprint:
            raise ValueError("claims were made for another key")
        payload = {
            "v": SIG_VERSION, "alg": "Ed25519",
            "filename": Path(filename).name,
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "document_id": claims.document_id, "signer": claims.signer,
            "key_fingerprint": claims.key_fingerprint, "signed_at": claims.signed_at,
        }
        signature = self._key.sign(_canonical(payload))
        return {**payload,
                "public_key": base64.b64encode(_raw_public(self.public_key)).decode(),
                "signature": base64.b64encode(signature).decode()}

    def sign_claim(self, canonical: bytes) -> str:
        """A bare Ed25519 signature (base64) over bytes the caller made canonical: for records that are
        not files, such as the audit log's checkpoints."""
        return base64.b64encode(self._key.sign(canonical)).decode()

    def public_key_b64(self) -> str:
        return base64.b64encode(_raw_public(self.public_key)).decode()

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)


def sig_bytes(sig: dict[str, Any]) -> bytes:
    return (json.dumps(sig, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _key_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "signing"


def _generate_key_file(path: Path) -> None:
    """Create the key with O_EXCL and mode 0600 from the start: never world-readable, never two keys."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process won the race; use its key
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())


def _load_private(path: Path, password: str | None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(),
                                                 password=password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot read signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"signing key {path} is not an Ed25519 key")
    return key


def load_signer(data_dir: Path, settings: SigningSettings | None = None,
                default_name: str = "Apel") -> Signer:
    """The HR-provided key when configured, else the installation key (made on first use)."""
    s = settings or SigningSettings()
    name = s.signer_name or default_name
    if s.signing_key_path:
        path = Path(s.signing_key_path).expanduser()
        if not path.is_file():
            raise ValueError(f"APEL_SIGNING_KEY_PATH {path} does not exist")
        return Signer(_load_private(path, s.signing_key_password), name, str(path))
    path = _key_dir(data_dir) / "ed25519_private.pem"
    if not path.exists():
        _generate_key_file(path)
    return Signer(_load_private(path, None), name, str(path))


def trusted_fingerprints(data_dir: Path, settings: SigningSettings | None = None) -> dict[str, str]:
    """fingerprint -> where it is trusted from. The installation's own key is always trusted;
    `<data_dir>/signing/trusted/*.pem` adds public keys of other installations (or retired keys)."""
    trusted: dict[str, str] = {}
    try:
        own = load_signer(data_dir, settings)
        # No file path here: this text reaches the verify page and API.
        trusted[own.fingerprint] = "this installation's key"
    except ValueError:
        pass
    tdir = _key_dir(data_dir) / "trusted"
    if tdir.is_dir():
        for p in sorted(tdir.glob("*.pem")):
            try:
                pub = serialization.load_pem_public_key(p.read_bytes())
            except ValueError:
                continue
            if isinstance(pub, Ed25519PublicKey):
                trusted[fingerprint(pub)] = f"trusted key {p.name}"
    return trusted


@dataclass
class Verification:
    valid: bool                 # signature matches the bytes AND the key is trusted
    reason: str                 # machine code: ok | modified | bad_signature | untrusted_key | malformed
    message: str                # human-readable English
    signer: str | None = None
    signed_at: str | None = None
    document_id: str | None = None
    key_fingerprint: str | None = None
    filename: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class _SigInfo(TypedDict):
    """What a .sig says about its document, carried into every Verification made from it."""

    signer: str
    signed_at: str
    document_id: str
    key_fingerprint: str
    filename: str


def parse_sig(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_SIG_BYTES:
        raise ValueError("signature file is too large")
    try:
        sig = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"signature file is not JSON: {exc}") from exc
    if not isinstance(sig, dict):
        raise ValueError("signature file is not a JSON object")
    missing = [k for k in ("v", "alg", "sha256", "size", "document_id", "signer", "key_fingerprint",
                           "signed_at", "public_key", "signature", "filename") if k not in sig]
    if missing:
        raise ValueError(f"signature file lacks: {', '.join(missing)}")
    if sig["v"] != SIG_VERSION or sig["alg"] != "Ed25519":
        raise ValueError(f"unsupported signature version/algorithm: {sig['v']}/{sig['alg']}")
    return sig


def verify_bytes(data: bytes, sig_raw: bytes, trusted: dict[str, str]) -> Verification:
    """Check file bytes against a detached signature. Order matters for clear messages: a malformed
    .sig, then the file hash (the common case: the file was edited), then the signature, then trust."""
    try:
        sig = parse_sig(sig_raw)
    except ValueError as exc:
        return Verification(False, "malformed", str(exc))
    info = _SigInfo(signer=str(sig["signer"]), signed_at=str(sig["signed_at"]), document_id=str(sig["document_id"]),
                    key_fingerprint=str(sig["key_fingerprint"]), filename=str(sig["filename"]))
    try:
        raw_pub = base64.b64decode(sig["public_key"], validate=True)
        signature = base64.b64decode(sig["signature"], validate=True)
        pub = Ed25519PublicKey.from_public_bytes(raw_pub)
    except (ValueError, TypeError) as exc:
        return Verification(False, "malformed", f"bad key or signature encoding: {exc}", **info)
    payload = {k: sig[k] for k in ("v", "alg", "filename", "sha256", "size", "document_id", "signer",
                                   "key_fingerprint", "signed_at")}
    digest = hashlib.sha256(data).hexdigest()
    if digest != sig["sha256"] or len(data) != sig["size"]:
        return Verification(False, "modified",
                            "the file does not match its signature: it was changed after signing "
                            "(or this signature belongs to another file)",
                            details={"expected_sha256": sig["sha256"], "actual_sha256": digest,
                                     "expected_size": sig["size"], "actual_size": len(data)}, **info)
    try:
        pub.verify(signature, _canonical(payload))
    except InvalidSignature:
        return Verification(False, "bad_signature",
                            "the signature does not match its contents: the .sig file was tampered with", **info)
    fp = fingerprint(pub)
    if fp != sig["key_fingerprint"]:
        return Verification(False, "bad_signature", "the key fingerprint in the .sig does not match its key", **info)
    if fp not in trusted:
        return Verification(False, "untrusted_key",
                            f"signed correctly, but by a key this installation does not trust "
                            f"({short_fingerprint(fp)})", **info)
    return Verification(True, "ok", f"signed by {sig['signer']} on {sig['signed_at']} "
                                     f"with {trusted[fp]}", details={"trusted_as": trusted[fp]}, **info)


def split_bundle(data: bytes, max_bytes: int = 50 * 1024 * 1024) -> tuple[str, bytes, bytes] | None:
    """The ZIP the web app hands out (report + report.sig) -> (name, report bytes, sig bytes), or None
    when `data` is not such a bundle. Sizes are checked before inflating (no zip bombs)."""
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = {i.filename: i for i in z.infolist() if not i.is_dir()}
            sigs = [n for n in infos if n.endswith(SIG_SUFFIX) and n[: -len(SIG_SUFFIX)] in infos]
            if len(infos) != 2 or len(sigs) != 1:
                return None
            main = sigs[0][: -len(SIG_SUFFIX)]
            if infos[main].file_size > max_bytes or infos[sigs[0]].file_size > MAX_SIG_BYTES:
                raise ValueError("bundle content is too large")
            return main, z.read(main), z.read(sigs[0])
    except zipfile.BadZipFile:
        return None
