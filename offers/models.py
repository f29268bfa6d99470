"""Offers, collections, grants, usages, likes and events."""
