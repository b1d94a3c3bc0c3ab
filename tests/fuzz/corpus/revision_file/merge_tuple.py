"""merge

Revision ID: f00d
Revises: aa, bb
"""
revision = "f00d"
down_revision = ("aa",
                 "bb",)  # two parents
branch_labels = None
depends_on = ['cc']
