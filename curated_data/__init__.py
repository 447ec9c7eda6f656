"""Imports, exports and immutable dataset versions of a project's examples."""
