"""Compatibility shims for the toolchain versions pinned in pyproject.toml."""
