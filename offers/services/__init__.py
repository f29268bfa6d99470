"""Writes of the offers app, by topic: use (and likes, events), grants, catalog, collections, files."""
