"""The language a crisis message was written in, kept on its escalation for the alert's interpreter line.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 05:35:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_column('language')
