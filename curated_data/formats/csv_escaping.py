"""CSV export's guard against spreadsheet formula injection (OWASP "CSV injection"), and its reverse.

Every line of a cell that starts with = + - @, a tab or a carriage return gets a leading single quote,
so a spreadsheet shows it as text instead of running it: the first line of the cell and each line after
a line break inside it. The CSV import removes those quotes again, so export then import gives back the
same text."""

from __future__ import annotations

import re

# A line of a cell a spreadsheet would run as a formula, or one already escaped as such (quotes before
# the sign): the export adds one quote to these, the import removes one. A line starts at the start of
# the cell and after each \n, \r\n or lone \r. Round trips are exact both ways.
CSV_FORMULA = re.compile(r"'*[=+\-@\t\r]")
CSV_FORMULA_FIRST = frozenset("=+-@\t\r'")
CSV_LINE_START = r"(?:^|(?<=\n)|(?<=\r)(?!\n))"
CSV_ESCAPE_AT = re.compile(CSV_LINE_START + r"(?='*[=+\-@\t\r])")
CSV_UNESCAPE_AT = re.compile(CSV_LINE_START + r"'(?='*[=+\-@\t\r])")


def csv_escape(cell: str) -> str:
    """The cell with a single quote before each of its lines a spreadsheet would run as a formula (OWASP)."""
    if "\n" not in cell and "\r" not in cell:  # one line (most cells): only its start
        return "'" + cell if cell[:1] in CSV_FORMULA_FIRST and CSV_FORMULA.match(cell) else cell
    return CSV_ESCAPE_AT.sub("'", cell)


def csv_unescape(cell: str) -> str:
    """A CSV cell without the quotes `csv_escape` added (lines that were not escaped stay as they are)."""
    if "\n" not in cell and "\r" not in cell:  # one line (most cells): only its start
        return cell[1:] if cell[:1] == "'" and CSV_FORMULA.match(cell, 1) else cell
    return CSV_UNESCAPE_AT.sub("", cell) if "'" in cell else cell
