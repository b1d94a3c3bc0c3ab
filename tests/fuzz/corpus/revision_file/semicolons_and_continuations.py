revision = 'abc'; down_revision = \
    None
if True:
    revision = 'nested'
