"""Why a possible-risk signal was asked about rather than answered (net, ask rule, told as over, or a lexicon's
alarm the languages net doubted), so the clinical lead can review the doubted alarms.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 03:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('risk_review', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('risk_review', schema=None) as batch_op:
        batch_op.drop_column('reason')
