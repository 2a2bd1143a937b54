"""Twilio channel: inbound de-duplication, pending numbered menus, opt-outs, the outbound delivery log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 23:21:43.977261
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('twilio_delivery',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('in_reply_to', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('crisis', sa.Boolean(), nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('encoding', sa.String(length=10), nullable=True),
    sa.Column('segments', sa.Integer(), nullable=True),
    sa.Column('chars', sa.Integer(), nullable=True),
    sa.Column('template_sid', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.String(length=20), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_sid')
    )
    with op.batch_alter_table('twilio_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_twilio_delivery_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_twilio_delivery_crisis'), ['crisis'], unique=False)
        batch_op.create_index(batch_op.f('ix_twilio_delivery_status'), ['status'], unique=False)

    op.create_table('twilio_inbound',
    sa.Column('message_sid', sa.String(length=64), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('message_sid')
    )
    with op.batch_alter_table('twilio_inbound', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_twilio_inbound_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_twilio_inbound_received_at'), ['received_at'], unique=False)

    op.create_table('twilio_menu',
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('options_json', sa.Text(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id')
    )
    op.create_table('twilio_opt_out',
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('keyword', sa.String(length=20), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id')
    )


def downgrade() -> None:
    op.drop_table('twilio_opt_out')
    op.drop_table('twilio_menu')
    with op.batch_alter_table('twilio_inbound', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_twilio_inbound_received_at'))
        batch_op.drop_index(batch_op.f('ix_twilio_inbound_conversation_id'))

    op.drop_table('twilio_inbound')
    with op.batch_alter_table('twilio_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_twilio_delivery_status'))
        batch_op.drop_index(batch_op.f('ix_twilio_delivery_crisis'))
        batch_op.drop_index(batch_op.f('ix_twilio_delivery_conversation_id'))

    op.drop_table('twilio_delivery')
