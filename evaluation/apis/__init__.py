"""REST API v1 of evaluation, a module per subject."""
