"""Pages of training, a module per subject: jobs, sweeps, found, base models, workers."""
