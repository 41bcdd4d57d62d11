"""Builders shared by the tests (no test module imports another; conftest.py keeps the fixtures)."""
