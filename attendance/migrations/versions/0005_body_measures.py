"""body_measures: each employee's own interpupillary distance and eye height, learned over apels

One row per employee (`attendance.vision.BodyPrior`): the running mean of their IPD and of how far
their eyes sit above or below the office's average eye height, and how many apels measured each
(NULL / 0: not measured). The live service records one apel's measurements when the apel closes;
the vision pipeline uses them for that person's distance. A measurement derived from the face:
erased with the face templates, and with the employee (ON DELETE CASCADE).

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import attendance.models.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('body_measures',
    sa.Column('employee_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('ipd_m', sa.Float(), nullable=True),
    sa.Column('ipd_apels', sa.Integer(), nullable=False),
    sa.Column('head_dh_m', sa.Float(), nullable=True),
    sa.Column('head_apels', sa.Integer(), nullable=False),
    sa.Column('updated_at', attendance.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_body_measures_employee_id_employees'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('employee_id', name=op.f('pk_body_measures'))
    )


def downgrade() -> None:
    op.drop_table('body_measures')
