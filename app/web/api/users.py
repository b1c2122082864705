"""User accounts: admins only. Passwords are argon2 hashes; an operator is bound to one office."""
from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from app.web.deps import AdminUser, DbSession
from attendance.roster import RosterError, create_user, list_users, run_in_transaction, update_user, user_dict

from app.web.api.roster_common import http_error

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: str = Field(examples=["hr"])
    office_id: int | None = None
    full_name: str | None = Field(None, max_length=200)


class UserPatch(BaseModel):
    role: str | None = None
    office_id: int | None = None
    clear_office: bool = False
    active: bool | None = None
    full_name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=8, max_length=1024)


@router.get("")
def users(user: AdminUser, db: DbSession) -> list[dict]:
    return [user_dict(u) for u in list_users(db)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create(body: UserIn, request: Request, user: AdminUser, db: DbSession) -> dict:
    try:
        new = run_in_transaction(db, lambda: create_user(db, actor=user, **body.model_dump()))
    except RosterError as exc:
        raise http_error(request, exc) from None
    return user_dict(new)


@router.patch("/{user_id}")
def patch(user_id: int, body: UserPatch, request: Request, user: AdminUser, db: DbSession) -> dict:
    try:
        changed = run_in_transaction(db, lambda: update_user(db, user_id, actor=user,
                                                             **body.model_dump(exclude_unset=True)))
    except RosterError as exc:
        raise http_error(request, exc) from None
    return user_dict(changed)
