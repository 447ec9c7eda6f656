"""REST API v1 of training, a module per subject: jobs, adapters (and generation), base models."""
