"""A file far wider than any template, because of empty columns: read from a copy without them.

One stray cell in column XFD (Excel's last, 16,384) makes Excel save every row of a sheet with
16,384 cells, and a workbook's sheet is read that wide too. DuckDB's CSV reader holds a buffer
per column whatever is kept (16,384 x 32 KB, past the memory limit), so a 3 MB file ran out of
memory: "not processed, left in intake" every night, and the partner never got an answer.

Columns with no name and no value in any row carry nothing, so a file wider than WIDE_COLUMNS
is read from a copy without them: every named column and every column holding a value is
kept, in order, and every line keeps its place (row numbers are unchanged). A row with more or
fewer cells than the header still has more or fewer (it is set aside as malformed, as before).
"""

from __future__ import annotations

import csv
from dataclasses import replace

from pipelines.lines import scan_lines

# Far beyond any template (the widest has a few dozen columns); narrower files are read as
# they are, without the extra pass.
WIDE_COLUMNS = 1024


def narrow(sniffed):
    """`sniffed` (a read.Sniffed), or the same read from a copy without its empty columns."""
    width = len(sniffed.header)
    if width <= WIDE_COLUMNS or sniffed.scratch is None:
        return sniffed
    keep = _used(sniffed, width)
    if keep is None or len(keep) == width:
        return sniffed
    target = sniffed.scratch / f"{sniffed.sha256}.narrow.utf8.csv"
    with sniffed.readable_path.open("r", encoding="utf-8-sig", newline="") as text, \
            target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=sniffed.delimiter, lineterminator="\n")
        for row in csv.reader(text, delimiter=sniffed.delimiter):
            if not row:
                out.write("\n")  # a blank line keeps its place in the numbering
                continue
            cells = [row[i] for i in keep if i < len(row)]
            if len(row) < width and len(cells) == len(keep):
                cells = cells[:-1]  # still short: still set aside as malformed
            writer.writerow(cells + row[width:])
    cells = sniffed.header_cells
    return replace(sniffed, header=[sniffed.header[i] for i in keep], readable_path=target,
                   lines=scan_lines(target, sniffed.delimiter),
                   header_cells=None if cells is None else [cells[i] for i in keep])


def _used(sniffed, width: int) -> list[int] | None:
    """The positions with a name in the header or a value in some row; None when the file
    cannot be read so (a cell longer than the csv module takes): read as it is then."""
    used = {i for i, name in enumerate(sniffed.header) if name.strip()}
    try:
        with sniffed.readable_path.open("r", encoding="utf-8-sig", newline="") as text:
            rows = csv.reader(text, delimiter=sniffed.delimiter)
            next(rows, None)  # the header
            for row in rows:
                used.update(i for i, cell in enumerate(row[:width]) if cell.strip())
    except csv.Error:
        return None
    return sorted(used)
