"""Django's SQLite backend, told how many variables a statement may hold here (see base.py)."""
