"""Ed25519 signatures: valid ones verify, any changed byte (file or .sig) fails, foreign keys are not trusted."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from attendance.reports.exports import Column, Heading, ReportDocument, Table, render_signed
from attendance.reports.signing import SigningSettings, load_signer, sig_bytes, trusted_fingerprints, verify_bytes


def _doc() -> ReportDocument:
    return ReportDocument(lang="id", kind="apel", heading=Heading(["PEMERINTAH PROVINSI BALI"]), title="Uji",
                          meta=[("Apel", "#1")],
                          tables=[Table("T", [Column("Nama"), Column("Hadir", align="R")], [["Ayu", 1], ["Bagus", 0]])])


def test_key_is_made_once_with_mode_0600(data_dir: Path):
    s1 = load_signer(data_dir)
    key = data_dir / "signing" / "ed25519_private.pem"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    s2 = load_signer(data_dir)
    assert s1.fingerprint == s2.fingerprint


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_signed_export_verifies_and_any_byte_change_fails(fmt, signer, data_dir):
    exp = render_signed(_doc(), fmt, signer, basename="r")
    trusted = trusted_fingerprints(data_dir)
    ok = verify_bytes(exp.data, exp.sig_data, trusted)
    assert ok.valid and ok.reason == "ok" and ok.signer == signer.name
    assert ok.document_id == exp.sig["document_id"]
    n = len(exp.data)
    for pos in (0, 1, n // 3, n // 2, n - 2, n - 1):
        b = bytearray(exp.data)
        b[pos] ^= 0x01
        res = verify_bytes(bytes(b), exp.sig_data, trusted)
        assert not res.valid and res.reason == "modified", pos
    assert verify_bytes(exp.data + b"\n", exp.sig_data, trusted).reason == "modified"
    assert verify_bytes(exp.data[:-1], exp.sig_data, trusted).reason == "modified"


def test_tampered_sig_file_fails(signer, data_dir):
    exp = render_signed(_doc(), "csv", signer, basename="r")
    trusted = trusted_fingerprints(data_dir)
    for field, value in (("signer", "Kepala BKD"), ("signed_at", "2020-01-01T00:00:00Z"), ("document_id", "x")):
        sig = dict(exp.sig, **{field: value})
        assert verify_bytes(exp.data, sig_bytes(sig), trusted).reason == "bad_signature", field
    assert verify_bytes(exp.data, b"not json", trusted).reason == "malformed"
    assert verify_bytes(exp.data, json.dumps({"v": 1}).encode(), trusted).reason == "malformed"


def test_a_forger_with_another_key_is_not_trusted(signer, data_dir, tmp_path):
    forger = load_signer(tmp_path / "elsewhere")
    exp = render_signed(_doc(), "pdf", forger, basename="r")
    res = verify_bytes(exp.data, exp.sig_data, trusted_fingerprints(data_dir))
    assert not res.valid and res.reason == "untrusted_key"
    # ...until HR drops the other installation's public key into signing/trusted/
    tdir = data_dir / "signing" / "trusted"
    tdir.mkdir(parents=True)
    (tdir / "kabupaten.pem").write_bytes(forger.public_pem())
    assert verify_bytes(exp.data, exp.sig_data, trusted_fingerprints(data_dir)).valid


def test_hr_provided_key_is_used(tmp_path, data_dir):
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "hr.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"rahasia-bkd")))
    settings = SigningSettings(signing_key_path=pem, signing_key_password="rahasia-bkd", signer_name="BKD Prov. Bali")
    signer = load_signer(data_dir, settings)
    assert signer.name == "BKD Prov. Bali"
    assert not (data_dir / "signing" / "ed25519_private.pem").exists()
    exp = render_signed(_doc(), "xlsx", signer, basename="r")
    assert verify_bytes(exp.data, exp.sig_data, trusted_fingerprints(data_dir, settings)).valid
    with pytest.raises(ValueError):
        load_signer(data_dir, SigningSettings(signing_key_path=pem, signing_key_password="salah"))
    with pytest.raises(ValueError):
        load_signer(data_dir, SigningSettings(signing_key_path=tmp_path / "missing.pem"))
