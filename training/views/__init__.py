"""Pages of training, a module per subject: jobs, adapters (and the playground), base models."""
