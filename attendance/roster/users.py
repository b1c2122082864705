"""User accounts and their roles: the use cases admins run, each audited in the caller's transaction."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from attendance import audit
from attendance.errors import Conflict, Invalid, NotFound
from attendance.models import Role, User
from attendance.roster.common import CONTROL_CHARACTER, actor_name, clean_text, flush_or_conflict, optional_text
from attendance.roster.offices import get_office
from attendance.roster.passwords import check_password, hash_parameters, hash_password


def user_dict(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role,
            "office_id": u.office_id, "active": u.active}


ROLES = {r.value for r in Role}


def _role(role: str, office_id: int | None, session: Session) -> tuple[str, int | None]:
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise Invalid("role", f"unknown role {role!r} (one of: {', '.join(sorted(ROLES))})")
    if role == Role.operator.value:
        if office_id is None:
            raise Invalid("operator_office", "an operator must be bound to an office")
        get_office(session, office_id)
    elif office_id is not None:
        get_office(session, office_id)
    return role, office_id


def _username(name: str) -> str:
    u = clean_text(name, "username", max_len=64).lower()
    if not all(ch.isalnum() or ch in "._-" for ch in u):
        raise Invalid("username_chars", "username may contain letters, digits, '.', '_' and '-' only")
    return u


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", f"user {user_id} does not exist")
    return user


def user_by_username(session: Session, username: str) -> User | None:
    if CONTROL_CHARACTER.search(username):   # no stored name has one, and PostgreSQL refuses a NUL
        return None
    return session.execute(select(User).where(User.username == username.strip().lower())).scalar_one_or_none()


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.username)).scalars())


def create_user(session: Session, *, actor: User | str | None, username: str, password: str, role: str,
                office_id: int | None = None, full_name: str | None = None) -> User:
    uname = _username(username)
    role_n, office_n = _role(role, office_id, session)
    check_password(password or "", uname)
    pw_hash = hash_password(password)
    if user_by_username(session, uname) is not None:
        raise Conflict("user_exists", f"username {uname} is already taken")
    user = User(username=uname, password_hash=pw_hash, role=role_n, office_id=office_n,
                full_name=optional_text(full_name, "full_name", max_len=200), active=True)
    session.add(user)
    flush_or_conflict(session, "user_exists", f"username {uname} is already taken")
    audit.record(session, actor=actor_name(actor), action="user.create", entity="user", entity_id=user.id,
                 after=user_dict(user))
    return user


def update_user(session: Session, user_id: int, *, actor: User | str | None, role: str | None = None,
                office_id: int | None = None, active: bool | None = None, full_name: str | None = None,
                password: str | None = None, clear_office: bool = False) -> User:
    user = get_user(session, user_id)
    before = user_dict(user)
    new_role = role if role is not None else user.role
    new_office = None if clear_office else (office_id if office_id is not None else user.office_id)
    user.role, user.office_id = _role(new_role, new_office, session)
    if active is not None:
        if not active and isinstance(actor, User) and actor.id == user.id:
            raise Invalid("self_deactivate", "you cannot deactivate your own account")
        user.active = bool(active)
    if full_name is not None:
        user.full_name = optional_text(full_name, "full_name", max_len=200)
    changed_password = False
    if password is not None:
        check_password(password, user.username)
        user.password_hash = hash_password(password)
        user.token_version += 1   # the old password's sessions and tokens end with it
        changed_password = True
    session.flush()
    after = user_dict(user)
    if after != before or changed_password:
        audit.record(session, actor=actor_name(actor), action="user.update", entity="user", entity_id=user.id,
                     before=before, after=after, reason="password changed" if changed_password else None)
    return user


def revoke_sessions(session: Session, user_id: int) -> int:
    """End every session and bearer token of this user (logging out ends them all, on every device:
    one version per user, not a list of sessions to keep). Returns the new version. One UPDATE, so two
    logouts at once both count."""
    session.execute(update(User).where(User.id == user_id).values(token_version=User.token_version + 1))
    version = session.execute(select(User.token_version).where(User.id == user_id)).scalar_one_or_none()
    if version is None:
        raise NotFound("user_not_found", f"user {user_id} does not exist")
    return int(version)


def upgrade_password_hash(session: Session, user_id: int, old_hash: str, new_hash: str) -> bool:
    """Store a new hash of the same password, made at a successful login because the stored one has other
    argon2 parameters than ours (attendance.roster.passwords.verify_and_update). Only if the stored hash
    is still `old_hash`: a password changed meanwhile, or a concurrent login that stored its own rehash
    first, wins. Audited (the parameters, never a hash): the credential changed though the password did
    not. Returns whether this call stored it."""
    stmt = (update(User).where(User.id == user_id, User.password_hash == old_hash).values(password_hash=new_hash)
            .execution_options(synchronize_session=False))
    if cast(CursorResult, session.execute(stmt)).rowcount != 1:
        return False
    username = session.execute(select(User.username).where(User.id == user_id)).scalar_one()
    audit.record(session, actor=username, action="user.password_rehash", entity="user", entity_id=user_id,
                 before={"hash_parameters": hash_parameters(old_hash)},
                 after={"hash_parameters": hash_parameters(new_hash)}, reason="new hashing parameters, at login")
    return True


def can_see_office(user: User, office_id: int) -> bool:
    return user.role != Role.operator.value or user.office_id == office_id
