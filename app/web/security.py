"""Signed bearer tokens (itsdangerous), what binds sessions and tokens to their user (the password
fingerprint and the user's token version), CSRF tokens. Password hashing itself is the roster's
(attendance.roster.passwords)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NamedTuple

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="apel-api-token")


class Claims(NamedTuple):
    """What a session cookie or bearer token says about its user when it was issued."""
    uid: int
    fp: str   # password fingerprint
    tv: int   # the user's token version


def issue_token(secret: str, user_id: int, password_hash: str, token_version: int = 0) -> str:
    """A bearer token bound to the password hash and the user's token version: changing the password or
    logging out revokes it."""
    return _serializer(secret).dumps({"uid": user_id, "fp": password_fingerprint(password_hash),
                                      "tv": token_version})


def read_token(secret: str, token: str, max_age_s: int) -> Claims | None:
    try:
        data = _serializer(secret).loads(token, max_age=max_age_s)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        return None
    tv = data.get("tv", 0)   # tokens from before token versions existed are version 0, as users start
    return Claims(data["uid"], str(data.get("fp", "")), tv if isinstance(tv, int) else -1)


def still_valid(claims: Claims, active: bool, password_hash: str, token_version: int) -> bool:
    """A cookie or token is good while its user is active, has the same password and has not logged out
    (or changed the password) since it was issued. Compared against the user the request loads anyway:
    no extra database work."""
    return (active and hmac.compare_digest(claims.fp, password_fingerprint(password_hash))
            and claims.tv == token_version)


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
