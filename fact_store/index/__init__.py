"""Indexes: persistent sorted covering indexes (current) and the history index."""
