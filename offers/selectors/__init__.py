"""Reads of the offers app, by topic: visibility, usage figures (SQL), member lists, management catalogue."""
