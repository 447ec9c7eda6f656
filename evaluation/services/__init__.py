"""Writes of evaluation: blind pairwise evaluations, the behavioural report, a project's control set, the reaper."""
