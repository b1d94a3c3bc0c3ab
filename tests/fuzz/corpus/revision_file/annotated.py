"""add things

Revision ID: 1a2b3c
Revises: 0f0f0f
Create Date: 2026-11-21 13:09:57.123456

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '1a2b3c'
down_revision: Union[str, None] = '0f0f0f'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("t", sa.Column("x", sa.Integer()))


def downgrade() -> None:
    op.drop_column("t", "x")
