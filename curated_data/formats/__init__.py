"""Every dataset file format, parsed and rendered by pure functions (no Django, no database).

Reading is streamed: files are read line by line (JSONL, CSV) or chunk by chunk (JSON arrays, with
`json.JSONDecoder.raw_decode`), never whole. Each problem becomes a `RowError(line, field, reason)`.

The modules, in the order an import uses them (callers import from the module that holds a name):
- errors:       RowError, RowInvalid (one record), FileInvalid (the whole file)
- text:         bytes to text: encoding sniffing, UTF-8 lines under a length limit
- archives:     gzip and zip uploads decompressed under a size and ratio cap; other archives refused
- containers:   JSON lines, a JSON array, CSV rows: the values in a file, each with its line
- records:      record shapes (messages, alpaca, sharegpt, csv) to one conversation `Record`
- csv_escaping: the CSV export's guard against formula injection, and its exact reverse
- rendering:    conversations to export files, streamed in chunks
"""
