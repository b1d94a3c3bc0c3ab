revision = '''abc'''
down_revision = """def"""
