"""Password hashing (argon2id via argon2-cffi) and the password policy. Lives in the domain because user
accounts are created by domain services (CLI and API alike); the HTTP edge re-exports it.

The policy is what NIST SP 800-63B asks of a memorised secret: a minimum length and no password from a
list of ones attackers try first. No composition rules (a digit, a capital): they make passwords harder
to remember, not to guess. The list is Django's (data/README.md names its source and licence)."""
from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from attendance.errors import Invalid

# argon2id with OWASP's Password Storage Cheat Sheet parameters (its first choice: 19 MiB, 2 passes, 1 lane),
# not argon2-cffi's defaults (64 MiB, 3 passes, 4 lanes): those cost ~9x the CPU per check, and a whole
# office logs in within minutes on a 2-core server (BENCHMARKS.md, "Load with a live apel"). Explicit, so a
# library upgrade cannot change them silently; hashes made with other parameters still verify and are
# redone at their owner's next successful login (verify_and_update).
TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1
_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM,
                         hash_len=32, salt_len=16, type=Type.ID)
MIN_LENGTH = 10
COMMON_PASSWORDS = Path(__file__).with_name("data") / "common-passwords.txt.gz"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The list, lowercased, read once (a few hundred kilobytes in memory)."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as f:
        return frozenset(line.strip().lower() for line in f if line.strip())


def check_password(password: str, username: str | None = None) -> None:
    """Refuse a password an attacker would guess early; every way of setting one (API, pages, command
    line, demo seeding) goes through the user use cases, which call this."""
    if len(password) < MIN_LENGTH:
        raise Invalid("password_too_short", f"the password must be at least {MIN_LENGTH} characters long",
                      details={"min_length": MIN_LENGTH})
    folded = password.strip().lower()
    if folded in common_passwords():
        raise Invalid("password_common", "this password is on a list of commonly used passwords; choose another")
    if username and folded == username.strip().lower():
        raise Invalid("password_is_username", "the password must not be the username")


def hash_password(password: str) -> str:
    """Only the hashing: the policy is check_password's (tests and benchmarks hash fixed passwords directly)."""
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


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters (or another argon2 variant) than ours."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def verify_and_update(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """verify_password, and for a right password whose hash has other parameters than ours, its new hash
    (else None): the only moment the password is at hand to redo it. The caller stores it."""
    ok = verify_password(password_hash, password)
    if ok and password_hash is not None and needs_rehash(password_hash):
        return True, hash_password(password)
    return ok, None


def hash_parameters(password_hash: str) -> str:
    """"argon2id m=19456,t=2,p=1": what a hash was made with, for logs and the audit (never the hash)."""
    try:
        p = extract_parameters(password_hash)
    except InvalidHashError:
        return "unknown"
    return f"argon2{p.type.name.lower()} m={p.memory_cost},t={p.time_cost},p={p.parallelism}"
