"""estimates and unique group names

Adds `estimate` (one starter row per group) and `estimation_group.description`, then makes
group names unique. A "stuck migration" by design: the unique constraint fails when two
groups share a name (a data problem that only production has), and FAIL_MIGRATION=1 forces a
failing statement at the same point. Either way the failure comes AFTER the first DDL: MySQL/
MariaDB (non-transactional DDL) keep `estimate` and `description` while alembic_version stays
at 2eb89b1334ef; PostgreSQL rolls the whole upgrade back.

Revision ID: 9d3e7a5c8f02
Revises: 2eb89b1334ef
Create Date: 2024-03-16 09:05:33.270114

"""
import os

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9d3e7a5c8f02'
down_revision = '2eb89b1334ef'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('estimate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['estimation_group.id'], name='fk_estimate_group_id_estimation_group'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('estimation_group', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.String(length=200), nullable=True))
    op.execute('INSERT INTO estimate (group_id, hours) SELECT id, 0 FROM estimation_group ORDER BY id')
    if os.environ.get('FAIL_MIGRATION') == '1':
        # the forced failure: a statement that every engine rejects
        op.execute('UPDATE estimation_group SET description = no_such_column')
    with op.batch_alter_table('estimation_group', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_estimation_group_name', ['name'])


def downgrade():
    with op.batch_alter_table('estimation_group', schema=None) as batch_op:
        batch_op.drop_constraint('uq_estimation_group_name', type_='unique')
        batch_op.drop_column('description')
    op.drop_table('estimate')
