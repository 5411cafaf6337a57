"""One module per schema change, named `NNNN_slug.py`; Alembic skips this file."""
