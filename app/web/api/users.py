"""User accounts: admins only. Passwords are argon2 hashes; an operator is bound to one office."""
from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from app.web.deps import AdminUser, DbId, DbSession
from app.web.schemas.roster import UserOut
from attendance.db.unit_of_work import run_in_transaction
from attendance.roster.users import create_user, list_users, update_user, user_dict

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024, description="At least 10 characters, not a common password")
    role: str = Field(examples=["hr"])
    office_id: DbId | None = None
    full_name: str | None = Field(None, max_length=200)


class UserPatch(BaseModel):
    role: str | None = None
    office_id: DbId | None = None
    clear_office: bool = False
    active: bool | None = None
    full_name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=1, max_length=1024)


@router.get("", response_model=list[UserOut])
def users(user: AdminUser, db: DbSession) -> list[dict]:
    return [user_dict(u) for u in list_users(db)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut)
def create(body: UserIn, user: AdminUser, db: DbSession) -> dict:
    new = run_in_transaction(db, lambda: create_user(db, actor=user, **body.model_dump()))
    return user_dict(new)


@router.patch("/{user_id}", response_model=UserOut)
def patch(user_id: DbId, body: UserPatch, user: AdminUser, db: DbSession) -> dict:
    changed = run_in_transaction(db, lambda: update_user(db, user_id, actor=user,
                                                         **body.model_dump(exclude_unset=True)))
    return user_dict(changed)
