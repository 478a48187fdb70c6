"""Typed tables of indexed chain events (filled in by the indexing work)."""
