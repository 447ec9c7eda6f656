"""Pages of training, a module per subject: jobs, sweeps, base models, workers."""
