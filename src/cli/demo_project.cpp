#include "dbsnap/cli/demo_project.hpp"

namespace dbsnap::cli {

namespace {

constexpr std::string_view dbsnap_toml = R"(# dbsnap targets for the demo project (see `dbsnap --help`).
[targets.dev]
engine = "sqlite"
file = "instance/app.db"             # relative to this file's folder
migrations = "migrations/versions"
)";

constexpr std::string_view alembic_ini = R"([alembic]
script_location = migrations
sqlalchemy.url = sqlite:///instance/app.db

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console
qualname =

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
)";

constexpr std::string_view env_py = R"(from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = None


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connectable = engine_from_config(config.get_section(config.config_ini_section),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
)";

constexpr std::string_view script_mako = R"("""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
)";

constexpr std::string_view rev1 = R"("""create group

Revision ID: 4f2a9c1e7b30
Revises:
Create Date: 2026-01-12 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4f2a9c1e7b30'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'group',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade():
    op.drop_table('group')
)";

constexpr std::string_view rev2 = R"("""rename group to estimation_group, add user

Revision ID: 8d13b5e0a7c2
Revises: 4f2a9c1e7b30
Create Date: 2026-02-03 14:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d13b5e0a7c2'
down_revision = '4f2a9c1e7b30'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('nickname', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.rename_table('group', 'estimation_group')
    with op.batch_alter_table('estimation_group') as batch_op:
        batch_op.add_column(sa.Column('user', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_estimation_group_user', 'user', ['user'], ['id'])


def downgrade():
    with op.batch_alter_table('estimation_group') as batch_op:
        batch_op.drop_constraint('fk_estimation_group_user', type_='foreignkey')
        batch_op.drop_column('user')
    op.rename_table('estimation_group', 'group')
    op.drop_table('user')
)";

constexpr std::string_view rev3 = R"("""add estimate

Revision ID: c61e04d2f9b8
Revises: 8d13b5e0a7c2
Create Date: 2026-03-20 11:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c61e04d2f9b8'
down_revision = '8d13b5e0a7c2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'estimate',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=128), nullable=False),
        sa.Column('hours', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['group_id'], ['estimation_group.id']),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade():
    op.drop_table('estimate')
)";

constexpr std::string_view schema_sql = R"(
PRAGMA journal_mode=WAL;
BEGIN;
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE "user" (
    id INTEGER NOT NULL,
    nickname VARCHAR(64) NOT NULL,
    PRIMARY KEY (id)
);
CREATE TABLE estimation_group (
    id INTEGER NOT NULL,
    name VARCHAR(64) NOT NULL,
    user INTEGER,
    PRIMARY KEY (id),
    CONSTRAINT fk_estimation_group_user FOREIGN KEY(user) REFERENCES "user" (id)
);
CREATE TABLE estimate (
    id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    title VARCHAR(128) NOT NULL,
    hours FLOAT,
    PRIMARY KEY (id),
    FOREIGN KEY(group_id) REFERENCES estimation_group (id)
);
INSERT INTO alembic_version (version_num) VALUES ('c61e04d2f9b8');
INSERT INTO "user" (id, nickname) VALUES (1, 'default'), (2, 'Zoë');
INSERT INTO estimation_group (id, name, user) VALUES (1, 'NewGroup', 1), (2, 'Backend', 2);
INSERT INTO estimate (id, group_id, title, hours) VALUES
    (1, 1, 'Login page', 6.5), (2, 1, 'Password reset', 3.0), (3, 2, 'Orders API', 12.0),
    (4, 2, 'Invoice export', 8.0), (5, 2, 'Nightly backup', 2.5);
COMMIT;
)";

}  // namespace

const std::vector<DemoFile>& demo_files() {
  static const std::vector<DemoFile> files = {
      {"dbsnap.toml", dbsnap_toml},
      {"alembic.ini", alembic_ini},
      {"migrations/env.py", env_py},
      {"migrations/script.py.mako", script_mako},
      {"migrations/versions/4f2a9c1e7b30_create_group.py", rev1},
      {"migrations/versions/8d13b5e0a7c2_estimation_group_and_user.py", rev2},
      {"migrations/versions/c61e04d2f9b8_add_estimate.py", rev3},
  };
  return files;
}

std::string_view demo_schema_sql() { return schema_sql; }

}  // namespace dbsnap::cli
