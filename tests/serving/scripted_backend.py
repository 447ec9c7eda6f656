"""A serving backend at the boundary, for fast tests of what happens around an answer (claims, publishing,
the reaper, clocks): `script(report)` stands for the model, reporting text as it likes (`report(text,
tokens)`, the request's publisher) and returning the finished `Answer`. The real backends are tested in
tests/training/test_serving_backends.py."""

from __future__ import annotations

from serving.inference.outputs import Answer


class Scripted:
    worker, inline = "test", False

    def __init__(self, script) -> None:
        self.script = script

    def answer(self, *, on_text=None, **kwargs) -> Answer:
        return self.script(on_text)


def finished(text: str, tokens: int = 1, seconds: float = 0.1) -> Answer:
    return Answer(text=text, prompt_tokens=5, completion_tokens=tokens, finish_reason="stop", seconds=seconds)
