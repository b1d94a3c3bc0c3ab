"""create group

Revision ID: 4c1f0b6d2a71
Revises: 
Create Date: 2024-03-02 10:14:07.481920

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4c1f0b6d2a71'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('group')
