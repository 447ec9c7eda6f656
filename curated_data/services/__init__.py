"""Writes and file work of the curated_data app: imports, exports, dataset versions (formats: `..formats`)."""
