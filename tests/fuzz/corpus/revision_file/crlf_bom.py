"""crlf file

Create Date: 2026-01-01
"""
revision = 'c1'
down_revision = 'b1'
