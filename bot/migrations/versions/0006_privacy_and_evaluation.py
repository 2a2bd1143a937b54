"""Privacy notice, erasure requests, follow-ups, pseudonym keys and anonymised evaluation events.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 16:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('privacy_notice',
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id'))
    op.create_index('ix_privacy_notice_sent_at', 'privacy_notice', ['sent_at'])
    op.create_table('erasure_request',
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=30), nullable=True),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id'))
    op.create_table('follow_up',
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=30), nullable=False),
    sa.Column('agreed_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('conversation_id'))
    op.create_index('ix_follow_up_due_at', 'follow_up', ['due_at'])
    op.create_index('ix_follow_up_status', 'follow_up', ['status'])
    op.create_table('pseudonym_key',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('period'))
    op.create_table('evaluation_event',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=True),
    sa.Column('person', sa.String(length=40), nullable=True),
    sa.Column('board_code', sa.String(length=20), nullable=True),
    sa.Column('area_code', sa.String(length=20), nullable=True),
    sa.Column('format', sa.String(length=20), nullable=True),
    sa.Column('audience', sa.String(length=30), nullable=True),
    sa.Column('stage', sa.String(length=20), nullable=True),
    sa.Column('needs', sa.String(length=300), nullable=True),
    sa.Column('service_ids', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_evaluation_event_occurred_on', 'evaluation_event', ['occurred_on'])
    op.create_index('ix_evaluation_event_kind', 'evaluation_event', ['kind'])


def downgrade() -> None:
    op.drop_table('evaluation_event')
    op.drop_table('pseudonym_key')
    op.drop_index('ix_follow_up_status', 'follow_up')
    op.drop_index('ix_follow_up_due_at', 'follow_up')
    op.drop_table('follow_up')
    op.drop_table('erasure_request')
    op.drop_index('ix_privacy_notice_sent_at', 'privacy_notice')
    op.drop_table('privacy_notice')
