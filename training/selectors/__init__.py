"""Reads of training, a module per subject, shared by pages and the API."""
