"""Generators of the reference pages, run by mkdocs-gen-files at build time (pages.py).

Nothing they write is committed.
"""
