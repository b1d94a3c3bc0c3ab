"""merge users and second

Revision ID: f806d6b6acde
Revises: 46d4ef4f4264, c0ffee_users
Create Date: 2026-11-21 13:18:21.432615

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f806d6b6acde'
down_revision = ('46d4ef4f4264', 'c0ffee_users')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
