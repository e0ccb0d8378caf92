"""Metadata persistence: SQLAlchemy models, Alembic migrations, secret handling."""
