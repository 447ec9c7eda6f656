"""Reads of serving, a module per subject (adapters, generations, GGUF exports), shared by pages and the API."""
