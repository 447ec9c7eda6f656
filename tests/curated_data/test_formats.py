"""The pure format layer: streamed readers and renderers, no database."""

from __future__ import annotations

import codecs
import io
import json

import pytest

from curated_data.formats.containers import iter_json_array, iter_jsonl
from curated_data.formats.csv_escaping import csv_escape, csv_unescape
from curated_data.formats.errors import FileInvalid, RowInvalid
from curated_data.formats.records import detect_schema, source_field, to_record
from curated_data.formats.rendering import render
from curated_data.formats.text import sniff_encoding


def items(data: bytes, container: str, **kwargs):
    stream = io.BytesIO(data)
    if container == "jsonl":
        return list(iter_jsonl(stream, max_line_bytes=kwargs.pop("max_line_bytes", 1 << 20)))
    return list(iter_json_array(stream, max_record_bytes=kwargs.pop("max_record_bytes", 1 << 20), **kwargs))


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, 1 << 20])
def test_json_array_is_decoded_across_any_chunk_boundary(chunk_size):
    records = [{"messages": [{"role": "user", "content": f'é {i} \\ "q"'}]} for i in range(5)] + [12345678]
    data = ("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n").encode()
    got = items(data, "json", chunk_size=chunk_size)
    assert [value for _, value, _ in got] == records
    assert [line for line, _, _ in got] == [2, 3, 4, 5, 6, 7]
    assert all(error is None for _, _, error in got)


def test_json_array_reports_the_line_of_a_syntax_error_and_stops():
    data = b'[\n{"messages": []},\n{"messages": [}\n, {"messages": []}]'
    got = items(data, "json", chunk_size=8)
    assert got[0][1] == {"messages": []}
    line, value, error = got[-1]
    assert (line, value) == (3, None)
    assert error.fatal
    assert "Invalid JSON" in error.reason


def test_json_array_record_over_the_limit_is_refused_without_reading_on():
    data = b'[{"messages": "' + b"x" * 5000 + b'"}]'
    line, _, error = items(data, "json", chunk_size=100, max_record_bytes=1000)[-1]
    assert error.fatal
    assert "larger than the limit of 1,000 bytes" in error.reason


def test_long_lines_are_skipped_in_pieces():
    data = b'{"a": 1}\n' + b"y" * 5000 + b"\n" + b'{"b": 2}\n'
    got = items(data, "jsonl", max_line_bytes=1000)
    assert [(line, value) for line, value, _ in got] == [(1, {"a": 1}), (2, None), (3, {"b": 2})]
    assert "longer than the limit of 1,000 bytes" in got[1][2].reason


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (codecs.BOM_UTF16_LE + "[]".encode("utf-16-le"), "UTF-16"),
        (codecs.BOM_UTF32_LE + "[]".encode("utf-32-le"), "UTF-32"),
        ('{"messages": []}'.encode("utf-16-le"), "UTF-16 without a byte order mark"),
        (b"\x00\x01\x02binary\x00\xff", "binary"),
    ],
)
def test_other_encodings_are_named(head, reason):
    with pytest.raises(FileInvalid) as info:
        sniff_encoding(head)
    assert reason in info.value.error.reason


def test_utf8_bom_is_skipped():
    assert sniff_encoding(codecs.BOM_UTF8 + b"{}") == (
        3,
        "The file starts with a UTF-8 byte order mark; it was skipped.",
    )


@pytest.mark.parametrize(
    ("value", "schema"),
    [
        ({"messages": []}, "messages"),
        ({"conversations": []}, "sharegpt"),
        ({"instruction": "a", "output": "b"}, "alpaca"),
        ({"text": "a"}, None),
    ],
)
def test_schema_detection(value, schema):
    assert detect_schema(value) == schema


def test_alpaca_record_keeps_system_history_and_input():
    record = to_record(
        4,
        {
            "instruction": "Translate",
            "input": "bonjour",
            "output": "hello",
            "system": "Be brief.",
            "history": [["hi", "hello!"]],
            "category": "general",
            "tags": "formal, short",
        },  # fmt: skip
        "auto",
    )
    assert record.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello!"},
        {"role": "user", "content": "Translate\n\nbonjour"},
        {"role": "assistant", "content": "hello"},
    ]
    assert (record.category, record.style_tags) == ("general", ["formal", "short"])
    assert source_field(record, "messages[4].content") == "output"


def test_sharegpt_unknown_speaker_names_the_field():
    with pytest.raises(RowInvalid) as info:
        to_record(1, {"conversations": [{"from": "robot", "value": "x"}]}, "sharegpt")
    assert info.value.errors == [("conversations[0].from", "Unknown speaker 'robot'; use human, gpt or system.")]


def test_renderers_flush_in_chunks_and_escape_csv():
    rows = [([{"role": "user", "content": 'a "quoted", comma\nnewline'}, {"role": "assistant", "content": "b"}],
             "c", ["t"], "")] * 3  # fmt: skip
    text = "".join(render("csv", rows, flush_bytes=10))
    assert text.count('"a ""quoted"", comma\nnewline"') == 3
    chunks = list(render("messages", rows, flush_bytes=1))
    assert len(chunks) == 3
    assert all(json.loads(c)["messages"][1]["content"] == "b" for c in chunks)


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=already escaped", "''=already escaped"),
        ("a = b", "a = b"),
        ("'Tis", "'Tis"),
        ("'", "'"),
        ("", ""),
    ],
)
def test_csv_cells_that_spreadsheets_would_run_get_a_quote_the_import_removes(cell, escaped):
    assert csv_escape(cell) == escaped
    assert csv_unescape(escaped) == cell
    record = to_record(2, {"prompt": escaped or "q", "response": "a"}, "csv")
    assert record.messages[0]["content"] == (cell or "q")
