"""offices.back_row_m: the back row's distance from the camera, if the operator knows it

The vision pipeline derives from it the smallest face a whole-frame look searches for (with the
camera's field of view and the frame width), instead of always searching down to 32 px faces:
HOG's cost grows with the square of the upscaling the smallest face needs. Null: unknown.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('offices') as batch:
        batch.add_column(sa.Column('back_row_m', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('offices') as batch:
        batch.drop_column('back_row_m')
