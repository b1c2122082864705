"""office_views: what the web node shows of an office a vision node analyses

With vision on other nodes (APEL_MEDIA=janus, APEL_JANUS_ANALYSE=false) the web node decodes no
office video, so the node holding an office's lease writes the office's last overlay (JSON) and a
320 px JPEG still of its last frame here, one row per apel and office, overwritten (docs/janus.md).
The still is a picture of people: only the latest is kept, and the rows go when the node leaves the
office, when the apel is no longer open, and when nobody refreshed them for a while (app.live.node_views);
deleting the apel or the office deletes them too.

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from attendance.models.base import UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'office_views',
        sa.Column('assembly_id', sa.Integer(), sa.ForeignKey('assemblies.id', ondelete='CASCADE'), nullable=False),
        sa.Column('office_id', sa.Integer(), sa.ForeignKey('offices.id', ondelete='CASCADE'), nullable=False),
        sa.Column('node_id', sa.String(32), nullable=False),
        sa.Column('overlay', sa.JSON(), nullable=True),
        sa.Column('overlay_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('overlay_frame_t', sa.Float(), nullable=True),
        sa.Column('still_jpeg', sa.LargeBinary(), nullable=True),
        sa.Column('still_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('assembly_id', 'office_id', name='pk_office_views'),
    )
    op.create_index('ix_office_views_node_id', 'office_views', ['node_id'])
    op.create_index('ix_office_views_updated_at', 'office_views', ['updated_at'])


def downgrade() -> None:
    op.drop_index('ix_office_views_updated_at', 'office_views')
    op.drop_index('ix_office_views_node_id', 'office_views')
    op.drop_table('office_views')
