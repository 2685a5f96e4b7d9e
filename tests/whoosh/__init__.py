"""Tests of the Whoosh index, beside the engine they test (docsvc.adapters.whoosh)."""
