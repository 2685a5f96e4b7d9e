"""The pure domain: no Flask, no SQLAlchemy, no Whoosh is imported here."""
