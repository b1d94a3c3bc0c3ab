"""second thing

Revision ID: 46d4ef4f4264
Revises: 3a1cdf84b039
Create Date: 2026-11-21 13:18:14.606488

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '46d4ef4f4264'
down_revision = '3a1cdf84b039'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
