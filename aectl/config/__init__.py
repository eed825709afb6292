"""Typed config schemas (structured configs) for every config group."""
