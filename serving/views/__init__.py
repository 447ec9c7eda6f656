"""Pages of serving, a module per subject: adapters (and the playground, adapter operations)."""
