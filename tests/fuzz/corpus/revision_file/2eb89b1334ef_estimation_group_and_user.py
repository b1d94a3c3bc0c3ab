"""estimation_group and user

Rename `group` to `estimation_group`, add `user` with a default user, and give every group
that user through the new FK column `estimation_group.user`.

Revision ID: 2eb89b1334ef
Revises: 4c1f0b6d2a71
Create Date: 2024-03-09 18:40:52.113305

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2eb89b1334ef'
down_revision = '4c1f0b6d2a71'
branch_labels = None
depends_on = None

user_table = sa.table('user', sa.column('id', sa.Integer), sa.column('nickname', sa.String))
group_table = sa.table('estimation_group', sa.column('id', sa.Integer), sa.column('user', sa.Integer))


def upgrade():
    op.rename_table('group', 'estimation_group')
    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nickname', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(user_table, [{'id': 1, 'nickname': 'default'}])
    # batch: SQLite cannot add a foreign key with ALTER (a plain ALTER elsewhere)
    with op.batch_alter_table('estimation_group', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_estimation_group_user_user', 'user', ['user'], ['id'])
    op.execute(group_table.update().values(user=1))


def downgrade():
    with op.batch_alter_table('estimation_group', schema=None) as batch_op:
        batch_op.drop_constraint('fk_estimation_group_user_user', type_='foreignkey')
        batch_op.drop_column('user')
    op.drop_table('user')
    op.rename_table('estimation_group', 'group')
