"""review_items.evidence_transient: a face crop held in the database for the running apel only

A vision node with APEL_KEEP_EVIDENCE=false still lets the operators answer its faces live (issue 18
§2): the web node's picker reads the crops from review_items.evidence_jpeg, the only way across
processes. Such a crop is not evidence: it is marked here, hidden from HR's queue, and deleted when the
apel ends (lifecycle.end_assembly, whether or not the node is still there), as the web node's own
crops leave its memory then.

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('review_items') as batch:
        batch.add_column(sa.Column('evidence_transient', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('review_items') as batch:
        batch.drop_column('evidence_transient')
