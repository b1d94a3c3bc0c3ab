revision = "x1"
down_revision = "x1"
