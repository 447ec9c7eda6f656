"""REST API v1: one view per operation, small nested input/output serializers."""
