"""add audit log

Revision ID: 9f86d8a3fd8b
Revises: f806d6b6acde
Create Date: 2026-11-21 13:18:23.305727

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9f86d8a3fd8b'
down_revision = 'f806d6b6acde'
branch_labels = None
depends_on = 'c0ffee_users'


def upgrade() -> None:
    # A local named like the module-level identifiers must not count.
    revision = "not-this-one"
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("note", sa.Text(), server_default=revision),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
