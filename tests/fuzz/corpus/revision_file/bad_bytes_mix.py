revision = b'a' 'b'
down_revision = None
