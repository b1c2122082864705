"""office_leases: vision nodes and the leases that give each (open apel, office) feed to one of them

`vision_nodes`: one row per `apel node` process (heartbeat, capacity, a clean stop's time).
`office_leases`: one row per feed of an open apel, held by at most one node until `expires_at`;
`epoch` grows at every take-over (the holder's run of the feed; it fences a node that lost it).
Rows of an ended apel are deleted by the nodes; deleting the apel or the office deletes them too.

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from attendance.models.base import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'vision_nodes',
        sa.Column('id', sa.String(32), primary_key=True),
        sa.Column('hostname', sa.String(255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('capacity', sa.Integer(), nullable=False),
        sa.Column('started_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('heartbeat_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('stopped_at', UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_vision_nodes_heartbeat_at', 'vision_nodes', ['heartbeat_at'])
    op.create_table(
        'office_leases',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('assembly_id', sa.Integer(), sa.ForeignKey('assemblies.id', ondelete='CASCADE'), nullable=False),
        sa.Column('office_id', sa.Integer(), sa.ForeignKey('offices.id', ondelete='CASCADE'), nullable=False),
        sa.Column('node_id', sa.String(32), nullable=True),
        sa.Column('epoch', sa.Integer(), nullable=False),
        sa.Column('acquired_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('renewed_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('assembly_id', 'office_id', name='uq_office_leases_assembly_office'),
    )
    op.create_index('ix_office_leases_node_id', 'office_leases', ['node_id'])


def downgrade() -> None:
    op.drop_index('ix_office_leases_node_id', 'office_leases')
    op.drop_table('office_leases')
    op.drop_index('ix_vision_nodes_heartbeat_at', 'vision_nodes')
    op.drop_table('vision_nodes')
