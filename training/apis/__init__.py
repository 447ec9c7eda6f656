"""REST API v1 of training, a module per subject: jobs, sweeps, base models."""
