"""reports: a covering index for the monthly recap

The recap groups one month of attendance_records by (office, employee) and counts statuses, tiers
and categories. With every column it reads in one index whose first column is the apel, both
databases walk only that month's index entries and never touch the table rows (SQLite: about 40%
less time at 10,000 employees x 22 apels; see bench/bench_recap.py).

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

COLUMNS = ['assembly_id', 'office_id', 'employee_id', 'status', 'tier', 'excuse_category', 'late_minutes']


def upgrade() -> None:
    op.create_index('ix_attendance_records_recap', 'attendance_records', COLUMNS)


def downgrade() -> None:
    op.drop_index('ix_attendance_records_recap', table_name='attendance_records')
