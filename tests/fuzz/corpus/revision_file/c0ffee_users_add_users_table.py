"""add users table

Revision ID: c0ffee_users
Revises: 3a1cdf84b039
Create Date: 2026-11-21 13:18:20.927578

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c0ffee_users'
down_revision = '3a1cdf84b039'
branch_labels = ('users',)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(length=255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("users")
