"""The ranks' events files (training/processes/launcher.py): a line a killed rank left half-written loses nothing else.

Each rank appends to its own file, one `write` per line; the parent reads every rank's complete lines.
A partial line (a rank killed mid-write) is never joined to another rank's event, and where a
complete event follows a partial one in one file, that event is still read.
"""

from __future__ import annotations

import json

from training.processes import launcher


def line(kind: str, payload) -> bytes:
    return (json.dumps({"kind": kind, "payload": payload}) + "\n").encode()


def drain(reader) -> list[tuple]:
    events = []
    while (event := reader(0)) is not None:
        events.append(event)
    return events


def test_a_complete_event_after_a_partial_line_is_read(tmp_path):
    partial = line("log", "x" * 5000)[:1234]  # the writer died in the middle of this line
    error = line("error", {"code": "internal", "message": "rank 1 failed", "rank": 1})
    (tmp_path / "events-0.jsonl").write_bytes(line("progress", {"step": 1}) + partial + error)
    assert launcher.parse_event(partial + error.rstrip(b"\n")) == ("error", error_payload(error))
    assert drain(launcher._EventReader(tmp_path)) == [("progress", {"step": 1}), ("error", error_payload(error))]


def test_a_partial_line_in_one_ranks_file_does_not_swallow_another_ranks_event(tmp_path):
    write0 = launcher._EventWriter(launcher.events_file(tmp_path, 0))
    write1 = launcher._EventWriter(launcher.events_file(tmp_path, 1))
    write0("progress", {"step": 1})
    with open(launcher.events_file(tmp_path, 1), "ab") as handle:  # rank 1 killed mid-line
        handle.write(line("log", "y" * 9000)[:4096])
    reader = launcher._EventReader(tmp_path)
    assert drain(reader) == [("progress", {"step": 1})]
    write0("result", {"metrics": {"global_step": 2}})
    write1("error", {"code": "internal", "message": "late", "rank": 1})  # not reached after a kill; still read
    events = drain(reader)
    assert ("result", {"metrics": {"global_step": 2}}) in events
    assert ("error", {"code": "internal", "message": "late", "rank": 1}) in events


def test_a_nested_kind_key_does_not_hide_the_event_that_follows(tmp_path):
    nested = line("log", {"kind": "log", "payload": "inner"})
    partial = nested[:45]  # cut after the payload's own '{"kind"'
    assert partial.count(b'{"kind"') == 2
    result = line("result", {"metrics": {"kind": "x"}})
    assert launcher.parse_event(partial + result.rstrip(b"\n")) == ("result", {"metrics": {"kind": "x"}})
    assert launcher.parse_event(b"not json at all") is None


def test_each_event_is_one_whole_line(tmp_path):
    write = launcher._EventWriter(launcher.events_file(tmp_path, 0))
    big = "z" * 200_000  # past any buffer: still one line, read as one event
    write("log", big)
    write("progress", {"step": 2})
    assert drain(launcher._EventReader(tmp_path)) == [("log", big), ("progress", {"step": 2})]


def error_payload(raw: bytes) -> dict:
    return json.loads(raw)["payload"]
