revision = ("abc"
down_revision = None
