"""Reads of annotation, a module per subject (projects, examples, reviews, quality), used by pages and the API alike."""
