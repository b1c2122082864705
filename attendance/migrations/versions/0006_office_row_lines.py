"""offices.row_lines_m: the formation's row lines, if the operator measured them

Each line's distance from the camera along the floor (a tape from the camera's point on the floor
to the line), front row first, as a JSON list of metres. The vision pipeline holds a row standing
on a line to that depth instead of inferring it from face sizes and the heads' plane. Null: unknown.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('offices') as batch:
        batch.add_column(sa.Column('row_lines_m', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('offices') as batch:
        batch.drop_column('row_lines_m')
