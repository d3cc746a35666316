"""One structure for everything wrong with a partner file, in the spirit of frictionless reports.

A `Problem` says where (file, row, column), what rule, the offending value and a sentence a
non-programmer can act on. Rows are spreadsheet rows: the header is row 1, the first data row is 2,
which is what a partner sees when they open the CSV in Excel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    rule: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = ", ".join(p for p in (
            f"row {self.row}" if self.row is not None else "",
            f"column {self.column!r}" if self.column else "") if p)
        return f"[{self.rule}] {where + ': ' if where else ''}{self.message}"


class FileRejected(Exception):
    """The whole file is refused; it is moved aside with a reason file and nothing is loaded."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def rule(self) -> str:
        return self.problems[0].rule
