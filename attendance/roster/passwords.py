"""Password hashing (argon2id via argon2-cffi). Lives in the domain because user accounts are
created by domain services (CLI and API alike); the HTTP edge re-exports it."""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"password must be at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash no password is checked against for real; made once, on the first unknown user."""
    return _hasher.hash("no such account")


def verify_password(password_hash: str | None, password: str) -> bool:
    """None (no such account) still runs a full check, against a dummy hash, and answers False: a
    login for an unknown name takes as long as a wrong password, so timing does not reveal usernames."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
