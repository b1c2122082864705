"""review_items.evidence_jpeg: the face crop of a review item kept in the database

A vision node (`apel node`, another machine) cannot write the crop where the web node serves it from
(APEL_DATA_DIR/evidence is each machine's own), so a node keeps its unanswered faces' crops here; the
same retention and deletion rules as the file (review.drop_biometrics, review.purge_expired).

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('review_items') as batch:
        batch.add_column(sa.Column('evidence_jpeg', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('review_items') as batch:
        batch.drop_column('evidence_jpeg')
