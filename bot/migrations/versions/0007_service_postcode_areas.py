"""Services that cover only part of their council area, by postcode area (Home-Start Caithness: KW in Highland).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 07:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.add_column(sa.Column('postcode_areas', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_column('postcode_areas')
