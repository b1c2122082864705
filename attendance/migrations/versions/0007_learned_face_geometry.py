"""learned_face_geometry: each person's IPD and eye height, learned by the office cameras

One row per person the live pipeline has measured against their row at a roll-call: the number
of roll-calls and the sums of their per-roll-call medians (attendance.vision.geometry.face_geometry), and
the last apel that taught it. Biometric data: erased with the person's face templates, and with
the person (ON DELETE CASCADE).

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from attendance.models.base import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'learned_face_geometry',
        sa.Column('employee_id', sa.Integer(), sa.ForeignKey('employees.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('ipd_sessions', sa.Integer(), nullable=False),
        sa.Column('ipd_sum_m', sa.Float(), nullable=False),
        sa.Column('eye_sessions', sa.Integer(), nullable=False),
        sa.Column('eye_sum_m', sa.Float(), nullable=False),
        sa.Column('last_assembly_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('learned_face_geometry')
