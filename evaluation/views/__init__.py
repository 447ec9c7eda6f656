"""Pages of evaluation, a module per subject."""
