"""experimental feature flags

Revision ID: exp_flags
Revises: 46d4ef4f4264
Create Date: 2026-11-21 13:18:27.717449

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'exp_flags'
down_revision = '46d4ef4f4264'
branch_labels = ('experimental',)
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
