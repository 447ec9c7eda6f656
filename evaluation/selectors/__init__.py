"""Reads of evaluation, a module per subject, shared by pages and the API."""
