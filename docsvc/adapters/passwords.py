"""Password hashes, by Werkzeug (scrypt; its text format, which names the method and salt, is
what the catalog keeps, so a hash made with another method still checks)."""

from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

# Werkzeug's default, about 0.1 CPU-s a hash by design. The test suite, which signs in thousands
# of times, sets a cheap one for itself (tests/conftest.py); nothing else should.
METHOD = "scrypt"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=METHOD)


def password_matches(stored: str, password: str) -> bool:
    return check_password_hash(stored, password)
