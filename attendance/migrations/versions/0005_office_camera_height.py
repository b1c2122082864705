"""offices.camera_height_m: the camera's height above the floor, if the operator measured it

Measured with a tape from the floor to the camera lens. The vision pipeline can place the plane of
the staff's heads from it (with their average eye height) instead of relying on face size alone.
Null: unknown.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('offices') as batch:
        batch.add_column(sa.Column('camera_height_m', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('offices') as batch:
        batch.drop_column('camera_height_m')
