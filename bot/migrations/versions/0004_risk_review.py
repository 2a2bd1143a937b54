"""Possible-risk signals and urgent-help requests kept for clinical review (no alert).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('risk_review',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=30), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('detected_at', sa.DateTime(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('answer', sa.String(length=20), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('risk_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_review_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_review_detected_at'), ['detected_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('risk_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_review_detected_at'))
        batch_op.drop_index(batch_op.f('ix_risk_review_conversation_id'))
    op.drop_table('risk_review')
