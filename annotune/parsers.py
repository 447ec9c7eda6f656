"""A JSON parser that refuses text no database column can hold (NUL, lone surrogates) with a 400."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def find_unstorable_text(value: Any, path: str = "") -> str | None:
    """The path of the first string holding a NUL character or a lone surrogate, else None."""
    if isinstance(value, str):
        if "\x00" in value:
            return path or "body"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_unstorable_text(key, path) or find_unstorable_text(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_unstorable_text(item, f"{path}[{index}]")
            if found:
                return found
    return None


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        where = find_unstorable_text(data)
        if where:
            raise ParseError(f"{where} contains a NUL character or invalid Unicode; remove it and send again.")
        return data
