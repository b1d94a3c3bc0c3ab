revision = f"{x}"
down_revision = None
