"""Audit 7, finding A5: a partner report's "Looks different from your history" lists only flags
of periods the file carries (each of its periods, not their span). Through the real nightly
flow (flags exist only once a night has measured), on the Juniper scenario's housing partner.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["BACKBONE_SETTLE_SECONDS"] = "0"

import test_audit7_scenario as J  # noqa: E402


def _row(pid: str, quarter: str) -> list[str]:
    return [pid, quarter, *J._flags(("white",)), "", "20000", "3", "NM", "1"]


def test_late_rows_for_two_quarters_are_not_told_of_the_quarter_between(tmp_path,
                                                                         prefect_harness):
    ws = J.build(tmp_path / "home")
    history = [_row(f"A{q}{i}", q) for q in ("2023Q1", "2023Q2", "2023Q3", "2023Q4", "2024Q1")
               for i in range(10)] + [_row(f"B{i}", "2024Q2") for i in range(60)]
    J.drop(ws, "housing", "history.csv", J.to_csv(J.HOUSING_HEADER, history))
    files = J.night(ws)
    assert "Juniper Housing sent 60 rows for 2024 Q2" in Path(
        files["history.csv"]["report"]).read_text()  # the flag exists
    J.drop(ws, "housing", "late_rows.csv", J.to_csv(J.HOUSING_HEADER, [
        _row("Z1", "2024Q1"), _row("Z2", "2024Q3")]))
    report = Path(J.night(ws)["late_rows.csv"]["report"]).read_text()
    assert "2024 Q2" not in report, report
    # A file that does carry 2024 Q2 is still told.
    J.drop(ws, "housing", "q2.csv", J.to_csv(J.HOUSING_HEADER, [_row("B0", "2024Q2")]))
    assert "2024 Q2" in Path(J.night(ws)["q2.csv"]["report"]).read_text()


def test_a_median_between_two_counts_is_shown_as_it_is():
    """The percentage in a flag is against the median (1.5 rows for 1 and 2): shown rounded to
    "2 rows", "+2300%" for 36 rows read wrong (36/2 is +1700%)."""
    from pipelines.quality_text import _rows

    assert [_rows(1.5), _rows(1.0), _rows(2.0), _rows(1000.0)] == [
        "1.5 rows", "1 row", "2 rows", "1,000 rows"]
