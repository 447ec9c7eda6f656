"""REST API v1 of serving, a module per subject: adapters (and generation, adapter operations)."""
