"""Typed inputs: one example (conversation) and the project's specification."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from validators.knowledge import KnowledgeBase

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ExampleInput:
    """One conversation to validate. `messages` keep their order; indices in findings refer to it."""

    messages: tuple[Message, ...]
    category: str | None = None
    style_tags: tuple[str, ...] = ()
    context: str = ""
    author: str | None = None
    id: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExampleInput:
        """Build from the stored shape: ``{"messages": [{"role", "content"}...], "category", ...}``.

        Missing or null content becomes ""; anything else is kept as given so checks can report it.
        """
        messages = tuple(
            Message(str(m.get("role") or ""), "" if m.get("content") is None else str(m.get("content")))
            for m in data.get("messages") or ()
        )
        raw_id = data.get("id")
        author = data.get("author")
        return cls(
            messages=messages,
            category=data.get("category") or None,
            style_tags=tuple(str(t) for t in data.get("style_tags") or ()),
            context=str(data.get("context") or ""),
            author=None if author is None else str(author),
            id=None if raw_id is None else str(raw_id),
        )

    @classmethod
    def coerce(cls, value: ExampleInput | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> ExampleInput:
        """Accept an ExampleInput, a stored dict, or a bare list of messages."""
        if isinstance(value, ExampleInput):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        return cls.from_dict({"messages": list(value)})

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": [m.to_dict() for m in self.messages],
            "category": self.category,
            "style_tags": list(self.style_tags),
            "context": self.context,
            "author": self.author,
            "id": self.id,
        }

    def message_dicts(self) -> list[dict[str, str]]:
        return [m.to_dict() for m in self.messages]

    def prompt_text(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role != "assistant")

    def response_text(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "assistant")


@dataclass(frozen=True)
class ProjectSpec:
    """Everything a project declares that checks need. Build once per project and reuse it.

    - `categories`: category name -> target share (0..1; shares need not sum to 1, they are normalised).
    - `general_category`: name of the general (non-domain) category, if any.
    - `style_tags`: declared style tags.
    - `glossary`: preferred term -> forbidden variants.
    - `response_schema`: JSON Schema assistant replies must satisfy (None: free text).
    - `max_tokens`: training max length; `tokenizer`: callable counting tokens of a string
      (None: estimate with `chars_per_token`); `template_overhead_tokens`: per message.
    - `knowledge_base`: built once with `KnowledgeBase.build(...)`; used by the fact check.
    - `verified_claims`: `claim_hash(text)` -> source, for claims a reviewer verified.
    - `list_marker` / `heading_style`: the project's majority style (see `style_profile`).
    - `style_rules`: the house style the project states, in its stored JSON shape (see `validators.style`).
    """

    categories: Mapping[str, float] = field(default_factory=dict)
    general_category: str | None = None
    style_tags: tuple[str, ...] = ()
    glossary: Mapping[str, Sequence[str]] = field(default_factory=dict)
    response_schema: Mapping[str, Any] | None = None
    max_tokens: int | None = 4096
    tokenizer: Callable[[str], int] | None = None
    chars_per_token: float = 4.0
    template_overhead_tokens: int = 4
    near_limit_ratio: float = 0.9
    knowledge_base: KnowledgeBase | None = None
    verified_claims: Mapping[str, str] = field(default_factory=dict)
    list_marker: str | None = None
    heading_style: str | None = None
    style_rules: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **extra: Any) -> ProjectSpec:
        """Build from a project's stored format spec (plain JSON); pass callables/objects as keywords.

        Categories may be a mapping ``{name: share}`` or a list ``[{"name", "target_share"}]``.
        """
        raw_categories = data.get("categories") or {}
        if isinstance(raw_categories, Mapping):
            categories = {str(k): float(v or 0) for k, v in raw_categories.items()}
        else:
            categories = {str(c["name"]): float(c.get("target_share") or c.get("share") or 0) for c in raw_categories}
        kwargs: dict[str, Any] = {
            "categories": categories,
            "general_category": data.get("general_category") or None,
            "style_tags": tuple(data.get("style_tags") or ()),
            "glossary": {str(k): tuple(v) for k, v in (data.get("glossary") or {}).items()},
            "response_schema": data.get("response_schema") or None,
        }
        for name in ("max_tokens", "chars_per_token", "template_overhead_tokens", "near_limit_ratio",
                     "list_marker", "heading_style"):  # fmt: skip
            if data.get(name) is not None:
                kwargs[name] = data[name]
        if isinstance(data.get("style_rules"), Mapping):
            kwargs["style_rules"] = dict(data["style_rules"])
        if data.get("verified_claims"):
            kwargs["verified_claims"] = dict(data["verified_claims"])
        kwargs.update(extra)
        return cls(**kwargs)

    @cached_property
    def glossary_index(
        self,
    ) -> tuple[re.Pattern[str] | None, dict[str, str], re.Pattern[str] | None, tuple[str, ...]]:
        """(case-insensitive pattern, folded variant -> preferred, case-sensitive pattern, folded variants for a
        cheap substring test before any regex runs), built once."""
        lookup: dict[str, str] = {}
        exact: list[str] = []
        for preferred, variants in self.glossary.items():
            for variant in variants:
                variant = variant.strip()
                if not variant or variant == preferred:
                    continue
                if variant.casefold() == preferred.casefold():
                    exact.append(variant)  # differs only by case: must match case-sensitively
                    lookup[variant] = preferred
                else:
                    lookup[variant.casefold()] = preferred

        def alternation(words: list[str]) -> str:
            words = sorted(set(words), key=len, reverse=True)
            return r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in words) + r")(?![\w-])"

        loose_words = [v for v in lookup if v not in exact]
        loose = re.compile(alternation(loose_words), re.IGNORECASE) if loose_words else None
        strict = re.compile(alternation(exact)) if exact else None
        return loose, lookup, strict, tuple(sorted({w.casefold() for w in lookup}))

    @cached_property
    def schema_validator(self) -> Any:
        """A jsonschema validator for `response_schema`, built once (raises SchemaError if invalid)."""
        if not self.response_schema:
            return None
        from jsonschema.validators import validator_for

        cls = validator_for(self.response_schema)
        cls.check_schema(self.response_schema)
        return cls(self.response_schema)

    @cached_property
    def category_targets(self) -> dict[str, float]:
        total = sum(v for v in self.categories.values() if v > 0)
        if total <= 0:
            return {}
        return {k: v / total for k, v in self.categories.items() if v > 0}
