r"""doc with \n escapes"""
revision = u'\x61b\u00e7\N' 'd' "\101"
down_revision = None
branch_labels = ('feature',)
