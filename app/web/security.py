"""Signed bearer tokens (itsdangerous), the password fingerprint that binds sessions and tokens to the
password, CSRF tokens. Password hashing itself is the roster's (attendance.roster.passwords)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="apel-api-token")


def issue_token(secret: str, user_id: int, password_hash: str) -> str:
    """A bearer token bound to the password hash: changing the password revokes old tokens."""
    return _serializer(secret).dumps({"uid": user_id, "fp": password_fingerprint(password_hash)})


def read_token(secret: str, token: str, max_age_s: int) -> tuple[int, str] | None:
    try:
        data = _serializer(secret).loads(token, max_age=max_age_s)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or "uid" not in data:
        return None
    return int(data["uid"]), str(data.get("fp", ""))


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
