"""Crisis escalation: clinical contacts, escalations, the alert outbox, channel contacts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:11:12.749685
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_contact',
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=30), nullable=False),
    sa.Column('address', sa.String(length=60), nullable=False),
    sa.Column('last_inbound_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id')
    )
    op.create_table('clinical_contact',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=200), nullable=False),
    sa.Column('board_code', sa.String(length=20), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('hours', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('clinical_contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinical_contact_board_code'), ['board_code'], unique=False)

    op.create_table('escalation',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=30), nullable=True),
    sa.Column('category', sa.String(length=30), nullable=False),
    sa.Column('detected_at', sa.DateTime(), nullable=False),
    sa.Column('area_code', sa.String(length=20), nullable=True),
    sa.Column('board_code', sa.String(length=20), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('alerted', sa.Boolean(), nullable=False),
    sa.Column('callback_consent', sa.Boolean(), nullable=False),
    sa.Column('callback_number', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_conversation_id'), ['conversation_id'], unique=False)

    op.create_table('alert',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['clinical_contact.id'], ),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_escalation_id'), ['escalation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_status'))
        batch_op.drop_index(batch_op.f('ix_alert_escalation_id'))

    op.drop_table('alert')
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_conversation_id'))

    op.drop_table('escalation')
    with op.batch_alter_table('clinical_contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinical_contact_board_code'))

    op.drop_table('clinical_contact')
    op.drop_table('channel_contact')
