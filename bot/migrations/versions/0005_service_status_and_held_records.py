"""Service status date and source date; records from outside feeds held for review.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_since', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('source_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('status_note', sa.Text(), nullable=True))
    op.create_table('held_service',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('feed', sa.String(length=500), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('name', sa.String(length=300), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('held_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('held_service')
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_column('status_note')
        batch_op.drop_column('source_date')
        batch_op.drop_column('status_since')
