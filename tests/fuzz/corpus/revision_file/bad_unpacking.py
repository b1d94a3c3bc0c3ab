revision, down_revision = "a", "b"
