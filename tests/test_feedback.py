"""What partners and data leads read: in the partner's own words, and hostile text stays inert.

Markdown is checked by rendering it with markdown-it (CommonMark + GFM tables), as the Prefect UI
and Markdown viewers do, and looking at the HTML: no link, image or raw HTML from a value, no
forged table row, no shifted column.
"""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pipelines import feedback, ingest, warehouse
from pipelines.escape import (FORMULA_START, log_text, md_code, md_text, one_line,
                              spreadsheet_safe)
from pipelines.intake import StagedFile, stage_file
from pipelines.run_summary import run_summary_markdown
from conftest import drop

MARKDOWN = MarkdownIt("commonmark").enable("table").enable("strikethrough")
HOSTILE = [
    "[click](javascript:alert(1))",
    "![x](https://evil.example/track.png)",
    "<img src=x onerror=alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "a|b|c",
    "back\\|slash\\",
    "line one\n| forged | row | here | x | y | z |",
    "``back`ticks``",
    "`",
    " spaced ",
    "*bold* _it_ ~~gone~~ # head",
    "www.evil.example http://evil.example a@evil.example",
    "&lt;script&gt;",
    "\x1b[31mred\x1b[0m \u202eevil\u2028next",
    "x;=2+5;y",
    "name\udc80.csv",  # a file name that is not UTF-8, as Python reads it
]
MARKUP = re.compile(r"<(?!/?(p|code|table|thead|tbody|tr|th|td)[ >])", re.I)


def _text(rendered: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()


@pytest.mark.parametrize("value", HOSTILE)
def test_md_text_renders_as_the_same_text_and_no_markup(value):
    rendered = MARKDOWN.render(f"Problem: {md_text(value)}")
    assert not MARKUP.search(rendered), rendered
    assert _text(rendered) == f"Problem: {one_line(value)}".strip()


@pytest.mark.parametrize("value", HOSTILE)
def test_md_code_shows_the_value_verbatim_as_code(value):
    rendered = MARKDOWN.render(f"Value: {md_code(value)}")
    assert not MARKUP.search(rendered), rendered
    code = re.fullmatch(r"<p>Value: <code>(.*)</code></p>\n", rendered, re.S)
    assert code, rendered
    assert html.unescape(code.group(1)) in (one_line(value), one_line(value).strip())


def test_table_cells_cannot_forge_rows_or_shift_columns():
    table = ["| a | b | c |", "|---|---|---|"]
    table += [f"| {md_code(v, table=True)} | {md_text(v)} | end |" for v in HOSTILE]
    rendered = MARKDOWN.render("\n".join(table))
    assert not MARKUP.search(rendered)
    rows = re.findall(r"<tr>(.*?)</tr>", rendered, re.S)[1:]
    assert len(rows) == len(HOSTILE)
    for value, row in zip(HOSTILE, rows):
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        assert len(cells) == 3 and cells[2] == "end", row
        assert _text(cells[1]) == one_line(value).strip()


def test_log_text_keeps_one_line_and_no_terminal_codes():
    for value in HOSTILE:
        logged = log_text(value)
        assert "\n" not in logged and "\x1b" not in logged and "\u2028" not in logged
        logged.encode("utf-8")  # lone surrogates escaped: the log handler can write it


@pytest.mark.parametrize("value, safe", [
    ("=1+1", "'=1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t'=1"), ("x;=2+5;y", "x;'=2+5;y"),
    ("a,+1", "a,'+1"), ("700|-5", "700|'-5"), ("a\n=1", "a\n'=1"), ("plain, text", "plain, text"),
])
def test_spreadsheet_safe_neutralises_formulas_after_any_separator(value, safe):
    assert spreadsheet_safe(value) == safe


def _no_formula_in_any_locale(path: Path) -> None:
    """Split every line as Excel would in `,` `;` tab and `|` locales: no cell is a formula."""
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        for separator in ",;\t|":
            for cell in line.split(separator):
                cell = cell.lstrip(" ").removeprefix('"')
                assert not cell.startswith(FORMULA_START), (separator, line)


def _staged(**extra) -> StagedFile:
    staged = StagedFile("riverbend", "riverbend_schools", "/x", "x.csv", sha256="ab" * 32,
                        rows_read=120, rows_loaded=60, rows_quarantined=60)
    for key, value in extra.items():
        setattr(staged, key, value)
    return staged


def test_report_and_bad_rows_name_the_partners_header_and_show_values_as_code(tmp_path):
    headers = {"kinder_ready": "K Readiness Met", "person_id": "Student Number",
               "period": "School Year"}
    rows = [(2 + i, "kinder_ready", "not_allowed", value, "'K Readiness Met' must be one of: Y, N.")
            for i, value in enumerate(HOSTILE)]
    rows.append((40, "person_id+period", "duplicate_key", "(hidden)", "The same ..."))
    staged = _staged(file_name="evil <img src=x onerror=alert(1)>\n| x |.csv",
                     header_names=headers, ignored_columns=["[note](javascript:x)"])
    report = feedback.write_report(tmp_path, staged, "loaded", rows, tmp_path / "kept.csv")
    text = report.read_text(encoding="utf-8")
    rendered = MARKDOWN.render(text)
    assert not MARKUP.search(rendered.replace("<h1>", "").replace("</h1>", "").replace(
        "<ul>", "").replace("</ul>", "").replace("<li>", "").replace("</li>", "").replace(
        "<strong>", "").replace("</strong>", "").replace("<h2>", "").replace("</h2>", "")), rendered
    body = re.findall(r"<tr>(.*?)</tr>", rendered, re.S)[1:]
    assert len(body) == len(rows)
    for (row, _, _, value, _), html_row in zip(rows, body):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", html_row, re.S)
        assert len(cells) == 5 and cells[0] == str(row)
        assert html.unescape(re.sub("</?code>", "", cells[3])) in (one_line(value),
                                                                   one_line(value).strip())
    assert "<code>K Readiness Met</code>" in rendered
    assert "<code>Student Number + School Year</code>" in rendered
    assert "kinder_ready" not in re.sub(r"<[^>]+>", "", rendered.split("<table>")[1])

    with (tmp_path / "kept.csv.bad_rows.csv").open(newline="", encoding="utf-8-sig") as handle:
        listed = list(csv.DictReader(handle))
    assert [r["column"] for r in listed[:2]] == ["K Readiness Met"] * 2
    assert listed[-1]["column"] == "Student Number + School Year"
    assert listed[-1]["template column"] == "person_id+period"
    assert [r["value"] for r in listed[:len(HOSTILE)]] == [
        spreadsheet_safe(v).encode("utf-8", "backslashreplace").decode() for v in HOSTILE]
    raw = (tmp_path / "kept.csv.bad_rows.csv").read_text(encoding="utf-8-sig")
    assert '"x;\'=2+5;y"' in raw  # quoted, and no formula after the `;`
    _no_formula_in_any_locale(tmp_path / "kept.csv.bad_rows.csv")


def test_a_long_list_says_how_many_more_rows_and_where(tmp_path):
    # Two bad cells in each of 60 rows: the cut counts rows, not cells.
    rows = [(r, column, "wrong_type", "x", "m") for r in range(2, 62)
            for column in ("kinder_ready", "period")]
    report = feedback.write_report(tmp_path, _staged(), "loaded", rows, tmp_path / "kept.csv")
    text = report.read_text(encoding="utf-8")
    assert "...and 10 more rows: the full list is in `kept.csv.bad_rows.csv`." in text
    assert text.count("| wrong\\_type |") == 2 * feedback.MAX_LISTED
    with (tmp_path / "kept.csv.bad_rows.csv").open(newline="", encoding="utf-8-sig") as handle:
        assert len(list(csv.DictReader(handle))) == 120


def test_a_rejected_report_names_the_partners_column(tmp_path):
    from pipelines.problems import Problem

    staged = _staged(header_names={"period": "School Year"})
    problem = Problem("bad", "Something about [a](javascript:x) is wrong.", row=3, column="period")
    report = feedback.write_report(tmp_path, staged, "rejected", [], tmp_path / "kept.csv",
                                   [problem])
    text = report.read_text(encoding="utf-8")
    assert "(row 3) (column `School Year`)" in text
    assert feedback._md(problem.message) in text and "<a " not in MARKDOWN.render(text)


def test_run_summary_escapes_file_names_and_reasons():
    files = [{"partner_id": "riverbend_schools", "file_name": name, "status": "rejected",
              "rows_loaded": 0, "rows_quarantined": 0, "reasons": f"[bad] {name}"}
             for name in HOSTILE]
    summaries = [{"initiative": "riverbend", "files": files,
                  "failed": [{"partner_id": "x|y", "file_name": "a\nb", "error": "<img src=x>"}]},
                 {"initiative": "other", "error": "bad\n| forged |"}]
    rendered = MARKDOWN.render(run_summary_markdown(summaries, "run-1"))
    assert not MARKUP.search(rendered.replace("<h1>", "").replace("</h1>", "")), rendered
    body = re.findall(r"<tr>(.*?)</tr>", rendered, re.S)[1:]
    assert len(body) == len(HOSTILE) + 2
    for name, row in zip(HOSTILE, body):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert len(cells) == 7 and cells[3] == "rejected", row
        assert html.unescape(re.sub("</?code>", "", cells[2])) in (one_line(name),
                                                                   one_line(name).strip())


@pytest.mark.usefixtures("prefect_harness")
def test_the_nightly_summary_artifact_is_escaped():
    from prefect import flow
    from prefect.artifacts import Artifact

    from pipelines.flows import _report

    summaries = [{"initiative": "riverbend", "files": [
        {"partner_id": "riverbend_schools", "file_name": "a\n| forged | row |<img src=x>.csv",
         "status": "loaded", "rows_loaded": 1, "rows_quarantined": 0, "reasons": ""}]}]

    @flow(name="summary-only")
    def summary_only() -> None:
        _report(summaries, "run-hostile")

    summary_only()
    artifact = Artifact.get("nightly-summary")
    assert artifact.data == run_summary_markdown(summaries, "run-hostile")
    rendered = MARKDOWN.render(artifact.data)
    assert len(re.findall(r"<tr>", rendered)) == 2 and "<img" not in rendered


def test_a_staged_file_reports_in_the_partners_words(workspace, config):
    """From the partner's file to report.md and bad_rows.csv: their headers, their values."""
    path = drop(workspace, "riverbend_schools", "rusd.csv",
                "Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\n"
                + "".join(f"S{i},2024,700,Y\n" for i in range(8))
                + "S8,2024,555,Y\nS9,2024,700,maybe\nS10,2024,700,\"=1+1;x;=2\"\n")
    staged = stage_file(path, config, "riverbend_schools", "salt" * 8, workspace.staging)
    assert staged.header_names["kinder_ready"] == "K Readiness Met"
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        [settled] = ingest.settle_all(con, workspace, config, [staged], [], "test")
    finally:
        con.close()
    report = Path(settled.report).read_text(encoding="utf-8")
    assert "| 10 | `Ethnicity/Race Codes` | unknown\\_race\\_code | `555` |" in report
    assert "Codes your crosswalk accepts: 100, 200, 300, 400, 500, 600, 700, 999" in report
    assert md_text("(several separated by '|').") in report
    assert "| 11 | `K Readiness Met` | wrong\\_type | `maybe` |" in report
    assert "must be one of: Y, N (or 0, 1)" in report
    csv_path = Path(settled.report.removesuffix(".report.md") + ".bad_rows.csv")
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        listed = {int(r["row"]): r for r in csv.DictReader(handle)}
    assert listed[10]["column"] == "Ethnicity/Race Codes" and listed[10]["value"] == "555"
    assert listed[11]["value"] == "maybe" and listed[11]["template column"] == "kinder_ready"
    assert listed[12]["value"] == "'=1+1;x;'=2"
    _no_formula_in_any_locale(csv_path)
