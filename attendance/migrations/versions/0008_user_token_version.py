"""user_token_version: logging out revokes the user's sessions and bearer tokens

Every session cookie and bearer token carries the user's token version from when it was issued; a
request whose version is not the user's current one is not authenticated. Logging out and changing
the password bump it, so a copied cookie or token stops working at once instead of for the rest of
its lifetime. Existing users start at 0, which is what sessions issued before this revision are read as.

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('token_version', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('token_version')
