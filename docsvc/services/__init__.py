"""Use cases: each public function or method is one thing a user does."""
