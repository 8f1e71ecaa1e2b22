"""Serving-plane scoring (extra ``serving``: numpy only): the precomputed fast path."""
