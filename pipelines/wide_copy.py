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
import unicodedata
from dataclasses import replace

from pipelines.lines import TRIMMED, scan_lines

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


# The one column that stands for every folded one (see `fold`): its header cell, and what a row
# holds there when its folded cells repeat the header's.
FOLDED_NAME = "(columns not in the template)"


def fold(sniffed, positions: dict[int, str]):
    """(`sniffed`, `positions`), or the same read from a copy holding only the template's
    columns and one column standing for all the others, when the file is still wider than
    WIDE_COLUMNS (thousands of named columns: a survey export).

    DuckDB's parse of such a file ran out of memory (5,000 columns, 200 rows, 2 MB: "not
    processed, left in intake" every night, the partner never answered), since telling a blank
    row or a repeated header apart reads every cell. The ignored columns are only needed for
    those two questions, so one cell per row answers them in their place: empty when every
    folded cell is blank, FOLDED_NAME when every one repeats its header cell, else a mark.
    Every line keeps its place and its number of cells relative to the header (a short or long
    row is still set aside as malformed)."""
    header = sniffed.header_cells or sniffed.header
    width = len(header)
    if width <= WIDE_COLUMNS or sniffed.scratch is None:
        return sniffed, positions
    keep = sorted(positions)
    kept = set(keep)
    folded = [i for i in range(width) if i not in kept]
    names = [header[i].strip(TRIMMED) for i in folded]
    target = sniffed.scratch / f"{sniffed.sha256}.folded.utf8.csv"
    try:
        with sniffed.readable_path.open("r", encoding="utf-8-sig", newline="") as text, \
                target.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, delimiter=sniffed.delimiter, lineterminator="\n")
            rows = csv.reader(text, delimiter=sniffed.delimiter)
            next(rows, None)
            writer.writerow([sniffed.header[i] for i in keep] + [FOLDED_NAME])
            for row in rows:
                if not row:
                    out.write("\n")  # a blank line keeps its place in the numbering
                    continue
                cells = [row[i] if i < len(row) else "" for i in keep]
                others = [row[i] for i in folded if i < len(row)]
                if all(_blank(cell) for cell in others):
                    mark = ""
                elif others[0].strip(TRIMMED) == names[0] and [
                        cell.strip(TRIMMED) for cell in others] == names:
                    mark = FOLDED_NAME
                else:
                    mark = "x"
                cells.append(mark)
                if len(row) < width:
                    cells = cells[:-1]  # still short: still set aside as malformed
                writer.writerow(cells + row[width:])
    except csv.Error:  # a cell longer than the csv module takes: read as it is
        target.unlink(missing_ok=True)
        return sniffed, positions
    new = {at: positions[i] for at, i in enumerate(keep)}
    cells = sniffed.header_cells
    return replace(sniffed, header=[sniffed.header[i] for i in keep] + [FOLDED_NAME],
                   readable_path=target, lines=scan_lines(target, sniffed.delimiter),
                   header_cells=None if cells is None else
                   [cells[i] for i in keep] + [FOLDED_NAME], width_sent=width), new


def _blank(cell: str) -> bool:
    """As pipelines.invisible: only characters of the Unicode categories Cc, Cf and Z, or none."""
    return all(unicodedata.category(c)[0] == "Z" or unicodedata.category(c) in ("Cc", "Cf")
               for c in cell)
