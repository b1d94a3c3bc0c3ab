"""first

Revision ID: 3a1cdf84b039
Revises: 
Create Date: 2026-11-21 13:18:14.137826

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3a1cdf84b039'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
