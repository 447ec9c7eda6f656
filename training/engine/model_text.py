"""Text a model wrote, fit to keep: without the NUL character.

A random-weight or damaged model can emit NUL, which PostgreSQL's text and JSON columns refuse
("unsupported Unicode escape sequence"): one such character in a sample or a behaviour answer failed a
whole training job at its last step. It never means anything in an answer, so every decode drops it.
"""

from __future__ import annotations


def model_text(text: str) -> str:
    return text.replace("\x00", "")
