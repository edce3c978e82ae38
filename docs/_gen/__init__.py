"""Generators of the reference pages, run by mkdocs-gen-files at build time (pages.py): nothing they write is committed."""
