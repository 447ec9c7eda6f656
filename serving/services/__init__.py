"""Writes of serving: adapters and their operations (merge, combine, GGUF export), generation through the
serving backend (inference worker or vLLM)."""
