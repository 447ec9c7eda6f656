"""Writes of the training app: launching, cancelling, running and reaping jobs; registering base models."""
