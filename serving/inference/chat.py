"""Chat answers that report their text while it is generated, with stop strings and a finish reason.

What the OpenAI-compatible endpoints need on top of `BaseModelCache.generate`: `on_text(text, tokens)`
is called every few tokens with the answer so far (only text that later tokens cannot change: a
partly decoded character, trailing white space and anything that could still become a stop string
are held back), generation ends at the first stop string (which the answer does not include), and
the result says why it ended: "stop" (end of turn or a stop string) or "length" (max_new_tokens).
`should_stop()`, asked after every token, ends it early: the answer so far, finish reason "cancelled"
(the caller's request was cancelled: its client went away).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from training.engine.model_text import model_text

from .cache import BaseModelCache, render_prompt, sampling_options
from .outputs import Answer

ProgressCallback = Callable[[str, int], None]
StopCheck = Callable[[], bool]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def stable_prefix(text: str, stop: Sequence[str]) -> str:
    """The part of a partial answer that later tokens will not change (see the module docstring)."""
    text = text.rstrip("\ufffd")
    text = text[: len(text.rstrip())]
    hold = max((len(s) - 1 for s in stop if s), default=0)
    return text[: len(text) - hold] if hold else text


class _Progress:
    """A transformers streamer (`put` / `end`) and stopping criterion in one: it decodes the new
    tokens, reports the stable text at most every `interval` seconds, stops at a stop string and when
    `should_stop()` says so (`cancelled`)."""

    def __init__(
        self,
        tokenizer,
        *,
        stop: Sequence[str],
        on_text: ProgressCallback | None,
        interval: float,
        should_stop: StopCheck | None = None,
    ):
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.on_text = on_text
        self.interval = interval
        self.should_stop = should_stop
        self.ids: list[int] = []
        self.prompt_seen = False
        self.stopped = False
        self.cancelled = False
        self.reported = ""
        self.last_report = 0.0

    # streamer
    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        self.ids.extend(int(i) for i in value.reshape(-1).tolist())
        if self.stop:
            _, self.stopped = cut_at_stop(self.text(), self.stop)
        now = time.monotonic()
        if self.on_text is not None and not self.stopped and now - self.last_report >= self.interval:
            # The clock restarts only when text went out: a first token that decodes to nothing stable yet
            # (half a UTF-8 character) must not hold the next report back for a whole interval.
            if self.report(stable_prefix(self.text(), self.stop)):
                self.last_report = now

    def end(self) -> None:
        pass

    def report(self, text: str) -> bool:
        if self.on_text is not None and text != self.reported and text.startswith(self.reported):
            self.reported = text
            self.on_text(text, len(self.ids))
            return True
        return False

    def text(self) -> str:
        return model_text(self.tokenizer.decode(self.ids, skip_special_tokens=True))

    # stopping criterion
    def __call__(self, input_ids, scores, **kwargs):
        import torch

        if not self.cancelled and self.should_stop is not None and self.should_stop():
            self.cancelled = True
        done = self.stopped or self.cancelled
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


def generate_chat(
    cache: BaseModelCache,
    base_path: str | Path,
    messages: list[dict[str, str]],
    *,
    adapter_name: str | None = None,
    adapter_path: str | Path | None = None,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    stop: Sequence[str] = (),
    on_text: ProgressCallback | None = None,
    interval: float = 0.05,
    should_stop: StopCheck | None = None,
    quantized: bool = False,
) -> Answer:
    """Answer a conversation on the cached base (or one adapter on it), reporting text as it grows and
    stopping early when `should_stop()` turns true."""
    import torch
    from transformers import StoppingCriteriaList

    with cache.serving(base_path, adapter_name=adapter_name, adapter_path=adapter_path, quantized=quantized) as (
        model,
        tokenizer,
    ):
        input_ids = render_prompt(tokenizer, messages).to(model.device)
        options = sampling_options(tokenizer, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
        progress = _Progress(tokenizer, stop=stop, on_text=on_text, interval=interval, should_stop=should_stop)
        torch.manual_seed(seed)
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                streamer=progress,
                stopping_criteria=StoppingCriteriaList([progress]),
                **options,
            )
        seconds = time.perf_counter() - started
        new = output[0, input_ids.shape[1] :].tolist()
        text, stopped = cut_at_stop(model_text(tokenizer.decode(new, skip_special_tokens=True)), stop)
        ended = stopped or _ends_turn(model, tokenizer, new)
        finish = "stop" if ended or len(new) < max_new_tokens else "length"
        return Answer(
            text=text,
            prompt_tokens=int(input_ids.shape[1]),
            completion_tokens=len(new),
            finish_reason="cancelled" if progress.cancelled and not ended else finish,
            seconds=seconds,
        )


def _ends_turn(model, tokenizer, new: list[int]) -> bool:
    """Whether the last generated token is an end-of-sequence token (the model ended its turn)."""
    if not new:
        return True
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = set(eos) if isinstance(eos, list) else {eos}
    return new[-1] in ids
