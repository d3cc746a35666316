"""The benchmark scripts still run, on a few MB: they are run by hand, so nothing else notices
when a pipeline change breaks them or makes their generated files fail validation."""

from __future__ import annotations

import re

import duckdb

from benchmarks import generate, profile_stages
from pipelines import folded_rules, intake, read
from pipelines.config import Workspace


def test_generated_files_are_staged_and_profiled_against_the_baseline(tmp_path, capsys,
                                                                       monkeypatch):
    source = tmp_path / "ws"
    written = generate.generate(source, megabytes=3, verbose=False)
    # profile_stages wraps these in timers for good; monkeypatch puts the originals back after.
    for module, attribute, _ in profile_stages.WRAPPED:
        monkeypatch.setattr(module, attribute, getattr(module, attribute))
    assert {intake, read, folded_rules} == {module for module, _, _ in profile_stages.WRAPPED}

    profile_stages.main(["--source", str(source), "--work", str(tmp_path / "work")])
    out = capsys.readouterr().out

    file_lines = [line for line in out.splitlines() if re.match(r"^\w+/[^:]+\.csv: ", line)]
    assert len(file_lines) == len(written)
    # Generated files are meant to load (with a few quarantined slips), not to be rejected.
    assert all(", staged |" in line for line in file_lines), file_lines
    baseline = re.search(r"baseline \(DuckDB COPY to Parquet.*\): ([\d.]+) s wall", out)
    assert baseline and float(baseline.group(1)) > 0
    header = next(line for line in out.splitlines() if line.startswith("| stage |"))
    gx_row = next(line for line in out.splitlines() if line.startswith("| gx_validate |"))
    assert "x baseline wall" in header and "x baseline CPU" in header
    assert gx_row.count("|") == header.count("|")
    assert re.search(r"checked by GX, before anything is written: [\d.]+x the baseline", out)

    warehouse = Workspace.resolve(tmp_path / "work").warehouse_file
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = con.execute("SELECT count(*) FROM submissions WHERE status = 'loaded'").fetchall()
        records = con.execute("SELECT count(*) FROM riverbend.records").fetchall()
    assert loaded[0][0] == len(written)
    assert records[0][0] > 1000


def test_small_files_cuts_and_stages_every_file(tmp_path):
    from benchmarks import small_files

    files = small_files.make_files(tmp_path / "ws", 4)
    assert [len(p.read_bytes().splitlines()) - 1 for p, _ in files] == [
        small_files.rows_in(i) for i in range(4)]
    result = small_files.child(tmp_path / "ws", 2)
    assert result["files"] == 4 and result["baseline"] > 0
    for mode in result["modes"].values():
        assert mode["statuses"] == ["staged"] and len(mode["per_file"]) == 4
    assert "| after | 2 threads | 4 |" in small_files.report({"after": [result]})


def test_check_cost_files_pass_check(tmp_path):
    from benchmarks import check_cost

    cases = check_cost.prepare(tmp_path)
    for home, file in cases.values():
        assert len(file.read_text().splitlines()) == check_cost.ROWS + 1
        assert check_cost._timed(check_cost._check_command(home, file)) > 0  # exit 0: it loads


def test_stage_ab_stages_every_file_and_compares_results(tmp_path):
    from benchmarks import stage_ab

    source = tmp_path / "ws"
    written = generate.generate(source, megabytes=1, verbose=False)
    result = stage_ab.child(source)
    assert len(result["files"]) == len(written)
    assert {f["status"] for f in result["files"]} == {"staged"}
    assert all(f["digest"]["records"][0] != "0" for f in result["files"])
    text = stage_ab.report({"before": [result], "after": [result]}, 1.0, 1.0)
    assert "| before |" in text and "| after |" in text
    assert text.count("| yes |") == len(written) and "| NO |" not in text


def test_pandas_path_reads_period_labels(tmp_path):
    """The comparison path validates and standardizes labelled periods as the pipeline does."""
    import json
    import subprocess
    import sys

    source = tmp_path / "ws"
    generate.generate(source, megabytes=1, verbose=False)
    school = next((source / "data" / "intake" / "riverbend" / "riverbend_schools").iterdir())
    done = subprocess.run([sys.executable, "-m", "benchmarks.pandas_path", "--home", str(source),
                           f"{school}:riverbend_schools"], capture_output=True, text=True,
                          check=True)
    outcome = json.loads(next(line for line in done.stdout.splitlines()
                              if line.startswith('{"file"')))
    assert outcome["records"] > 0 and outcome["records"] + outcome["quarantined_rows"] == \
        outcome["rows"]


def _against_this_tree(benchmark, tmp_path, capsys) -> str:
    """`benchmark.main` on a 1 MB generated workspace, with this tree as `before` too, one new
    0.2 MB file and one round; what it printed."""
    from pathlib import Path

    source = tmp_path / "ws"
    generate.generate(source, megabytes=1, verbose=False)
    tree = Path(benchmark.__file__).resolve().parents[1]
    benchmark.main(["--source", str(source), "--before", str(tree), "--work",
                    str(tmp_path / "work"), "--megabytes", "0.2", "--rounds", "1"])
    return capsys.readouterr().out


def test_incremental_ab_compares_fast_full_and_before(tmp_path, capsys):
    """On a 1 MB generated workspace, with this tree as `before` too: one new small file, and
    the three ways of measuring it publish the same."""
    from benchmarks import incremental_ab

    out = _against_this_tree(incremental_ab, tmp_path, capsys)
    assert "new file: RUSD_outcomes_2020.csv" in out and ": loaded" in out
    assert "the same as before to 12 decimals: True" in out
    assert all(f"| {name} |" in out for name in ("before", "fast", "full"))


def test_snapshot_ab_compares_before_fresh_and_updated(tmp_path, capsys):
    """On a 1 MB generated workspace, with this tree as `before` too: one new small file, and the
    three ways of making the snapshot hold the same."""
    from benchmarks import snapshot_ab

    out = _against_this_tree(snapshot_ab, tmp_path, capsys)
    assert "new file: RUSD_outcomes_2020.csv" in out and ": loaded" in out
    assert "before, fresh and updated hold the same: True" in out
    assert "updated: nights brought up to date since a fresh build: 1" in out  # not rebuilt
    assert all(f"| {name} |" in out for name in ("before", "fresh", "updated"))


def test_incremental_night_times_each_step_and_compares_outputs(tmp_path, capsys):
    """On a 1 MB generated workspace, with this tree as `before` too: a first night, one new
    small file, every step of the flow timed, and the two runs' outputs the same."""
    from benchmarks import incremental_night

    out = _against_this_tree(incremental_night, tmp_path, capsys)
    assert "new file: RUSD_outcomes_2020.csv" in out and "round 1, after:" in out
    assert "outputs of before and after identical (night's timestamps masked): True" in out
    for step in ("| import Great Expectations |", "| stage |", "| warehouse: load, reports |",
                 "| &nbsp;&nbsp;measure |", "| &nbsp;&nbsp;publish: scorecard |",
                 "| &nbsp;&nbsp;publish: status table |", "| snapshot |",
                 "| **process (all steps)** |"):
        assert step in out, step


def test_prefect_calls_counts_the_requests_of_a_night(tmp_path, capsys):
    """A real night against a real Prefect server on 1 MB: the summary and status artifacts are
    among the requests counted."""
    from benchmarks import prefect_calls

    source = tmp_path / "ws"
    generate.generate(source, megabytes=1, verbose=False)
    calls = prefect_calls.main(["--source", str(source), "--work", str(tmp_path / "work"),
                                "--megabytes", "0.1"])
    out = capsys.readouterr().out
    assert calls["POST /api/artifacts/"] == 2 and calls["POST /api/flow_runs/"] == 1
    assert "requests to the server" in out and "| `POST /api/artifacts/` |" in out


def test_the_wide_files_benchmark_runs_and_its_parse_reads_every_row(capsys):
    from benchmarks import wide_files

    results = wide_files.main(["--columns", "5", "60", "--rows", "2"])
    assert [columns for columns, _, _ in results] == [5, 60]
    assert all(plain > 0 and parse > 0 for _, plain, parse in results)
    assert "| 60 |" in capsys.readouterr().out
