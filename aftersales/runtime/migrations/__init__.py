"""Alembic migrations of the project's own database (run by `aftersales db upgrade`)."""
