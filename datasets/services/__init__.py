"""Writes and file work of the datasets app: imports, exports, dataset versions, formats."""
