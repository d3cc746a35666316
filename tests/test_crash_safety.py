"""Crash safety: SIGKILL the nightly run at random points; nothing is lost, doubled or torn.

The run under test is the real CLI (`python -m pipelines.cli run --home WS --initiative riverbend`)
in its own process, talking to the session's Prefect server. Importing Prefect and Great
Expectations takes most of a process's start-up on this machine, so a small "zygote" process does
the imports once and forks one child per run; each child then executes `pipelines.cli` as
`__main__`, exactly as `python -m` would, and is the process that gets SIGKILLed.

Kill points are seeded-random and spread over the run as measured on an uninterrupted run: one in
each phase (staging, loading the warehouse, measure/publish, snapshot and shutdown), each timed
from the event that opens the phase in the killed run itself, so load on the machine does not
shift a kill into the wrong phase. The loading phase is too short for that to be reliable, so its
random point is a file count: the kill lands right after the k-th file was answered.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import prefect.settings
import pyarrow.parquet as pq
import pytest

from pipelines import synth
from pipelines.config import REPO_ROOT, Workspace

pytestmark = pytest.mark.usefixtures("prefect_harness")

SEED = 1729
SALT = "crash-safety-test-salt-0123456789abcdef"
PUBLISHED_FILES = {"indicator_results.parquet", "disparities.parquet", "scorecard.html",
                   "manifest.json", "datapackage.json", "quality_flags.parquet",
                   "submissions.parquet", "status.html"}

ZYGOTE = r"""
import json, os, runpy, sys
import pipelines.cli, pipelines.flows  # the slow imports, once: every run forks from here
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        code = 1
        try:
            sys.argv = ["pipelines.cli", *request["argv"]]
            runpy.run_module("pipelines.cli", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(f"pid {pid}", flush=True)
    _, status = os.waitpid(pid, 0)
    print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
"""


class Zygote:
    """A pre-imported process that runs `pipelines.cli run` in a fresh child on request."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen([sys.executable, "-c", ZYGOTE], cwd=REPO_ROOT, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        assert self._next(300) == "ready"

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put("eof")

    def _next(self, timeout: float) -> str:
        line = self.lines.get(timeout=timeout)
        assert line != "eof", "the zygote process died"
        return line

    def start(self, home: Path) -> int:
        request = {"argv": ["run", "--home", str(home), "--initiative", "riverbend"],
                   "log": str(home / "run.log")}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        word, pid = self._next(60).split()
        assert word == "pid"
        return int(pid)

    def exit_code(self, timeout: float | None = 0) -> int | None:
        """The finished child's exit code (-9 when killed), or None while it still runs."""
        try:
            line = self.lines.get(timeout=timeout) if timeout else self.lines.get_nowait()
        except queue.Empty:
            return None
        word, code = line.split()
        assert word == "exit", line
        return int(code)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the run's phases, observed from outside --------------------------------------------------

PHASES = ("staging", "loading", "publishing", "finishing")


def _answered(ws: Path) -> int:
    return sum(1 for p in _files(ws / "data" / "archive") + _files(ws / "data" / "rejected")
               if not p.name.endswith(".reason.md"))


def _published_version(ws: Path) -> str | None:
    link = ws / "data" / "published" / "riverbend" / "partnership"
    return os.readlink(link) if link.is_symlink() else None


def _watch(ws: Path, total: int):
    """A probe for the events that open each phase of the run starting now, in run order."""
    answered, version = _answered(ws), _published_version(ws)

    def opened() -> dict[str, bool]:
        now = _answered(ws)
        return {"loading": now > answered or answered == total, "publishing": now == total,
                "finishing": _published_version(ws) not in (None, version)}
    return opened


def _timeline(zygote: Zygote, ws: Path, total: int) -> dict[str, float]:
    """Run to the end, noting when each phase opened (seconds after the fork)."""
    opened = _watch(ws, total)
    zygote.start(ws)
    started, seen = time.monotonic(), {"staging": 0.0}
    while (code := zygote.exit_code()) is None:
        for name, happened in opened().items():
            if happened and name not in seen:
                seen[name] = time.monotonic() - started
        time.sleep(0.02)
    assert code == 0, (ws / "run.log").read_text()[-3000:]
    seen["end"] = time.monotonic() - started
    assert list(seen) == [*PHASES, "end"], seen
    return seen


def _kill_in(zygote: Zygote, ws: Path, total: int, phase: str, after: float,
             files: int | None = None) -> tuple[int, float]:
    """Start a run, wait for `phase` to open (or `files` answered), then SIGKILL it `after` s on."""
    opened = _watch(ws, total)
    pid = zygote.start(ws)
    started = time.monotonic()
    anchor = started if phase == "staging" else None
    while anchor is None:
        if (code := zygote.exit_code()) is not None:
            return code, time.monotonic() - started
        if _answered(ws) >= files if files else opened()[phase]:
            anchor = time.monotonic()
        time.sleep(0.005)
    time.sleep(max(0.0, anchor + after - time.monotonic()))
    killed_at = time.monotonic() - started
    if (code := zygote.exit_code()) is not None:  # finished first: its pid is no longer ours
        return code, killed_at
    os.kill(pid, signal.SIGKILL)
    return zygote.exit_code(timeout=60), killed_at


# --- what must hold after any crash ------------------------------------------------------------

def _check_consistent(ws: Path, originals: collections.Counter, finished: bool) -> dict:
    """The invariants; returns a short description of the state for the test's log."""
    workspace = Workspace(ws)
    loaded_paths: dict[str, str] = {}
    duplicate_paths: dict[str, str] = {}  # stored path -> sha256 of a re-drop already received
    loaded = 0
    if workspace.warehouse_file.exists():
        # Opens (replaying any write-ahead log in memory) without changing the crashed state.
        con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
        try:
            tables = {(s, t) for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
            counts: dict[int, int] = collections.Counter()
            for table in ("records", "aggregate_counts"):
                if ("riverbend", table) in tables:
                    for sid, n in con.execute(f"SELECT submission_id, count(*) FROM riverbend."
                                              f"{table} GROUP BY ALL").fetchall():
                        counts[sid] += n
            subs = con.execute("SELECT submission_id, partner_id, status, rows_loaded, sha256, "
                               "stored_path FROM submissions").fetchall() \
                if ("main", "submissions") in tables else []
            status = {sid: st for sid, _, st, *_ in subs}
            for sid, partner, st, rows_loaded, sha, stored in subs:
                if st == "duplicate":
                    duplicate_paths[str(Path(stored).resolve())] = sha
                if st not in ("loaded", "held"):  # held rows are stored, kept out of current
                    assert counts.get(sid, 0) == 0, f"{st} submission {sid} has rows"
                    continue
                table = "aggregate_counts" if partner == "riverbend_housing" else "records"
                n = con.execute(f"SELECT count(*) FROM riverbend.{table} WHERE submission_id = ?",
                                [sid]).fetchall()[0][0]
                assert n == counts[sid] == rows_loaded, (sid, partner, n, counts[sid], rows_loaded)
                assert sha not in loaded_paths, f"file {sha[:8]} loaded twice"
                loaded_paths[sha] = stored
                loaded += 1
            orphans = [sid for sid in counts if sid not in status]
            if ("riverbend", "records_current") in {(s, v) for s, v in con.execute(
                    "SELECT schema_name, view_name FROM duckdb_views()").fetchall()}:
                repeated = con.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM riverbend.records_current GROUP BY "
                    "partner_id, person_key, period HAVING count(*) > 1)").fetchall()[0][0]
                assert repeated == 0, "records_current holds a person-period twice"
                # Held files (and anything not loaded) never count.
                unapplied = con.execute(
                    "SELECT count(*) FROM riverbend.records_current WHERE submission_id IN "
                    "(SELECT submission_id FROM submissions WHERE status <> 'loaded')"
                ).fetchall()[0][0]
                assert unapplied == 0, "rows of a submission that is not loaded count"
            assert not orphans, f"records without a submission: {orphans}"
            if ("main", "quarantine") in tables:
                stray = con.execute("SELECT DISTINCT submission_id FROM quarantine").fetchall()
                assert all(sid in status for (sid,) in stray), "quarantine without a submission"
        finally:
            con.close()
    if workspace.snapshot_file.exists():
        snap = duckdb.connect(str(workspace.snapshot_file), read_only=True)
        snap.execute("SELECT count(*) FROM submissions").fetchall()
        snap.close()

    # Published: absent (never published yet) or a complete version, checksums as in its manifest.
    link = workspace.published("riverbend") / "partnership"
    if finished or link.exists() or link.is_symlink():
        assert link.is_symlink(), "published/riverbend/partnership must be a symlink"
        version = link.resolve()
        assert version.parent == ws / "data" / "published" / ".versions" / "riverbend" / "partnership"
        assert not version.name.startswith("."), f"points at a partial version {version.name}"
        manifest = json.loads((version / "manifest.json").read_text())
        assert {p.name for p in version.iterdir()} == PUBLISHED_FILES
        assert set(manifest["files"]) == PUBLISHED_FILES - {"manifest.json"}
        for name, entry in manifest["files"].items():
            assert _sha256(version / name) == entry["sha256"], f"{version.name}/{name}"

    # Every original file is in exactly one place: intake, archive (loaded), rejected (+ reason).
    places: dict[str, list[str]] = collections.defaultdict(list)
    for path in _files(workspace.intake / "riverbend"):
        places[_sha256(path)].append(f"intake:{path.name}")
    for path in _files(ws / "data" / "archive"):
        sha = _sha256(path)
        if path.parent.name == "duplicates":  # a re-drop, kept beside what it repeats
            assert duplicate_paths.get(str(path.resolve())) == sha and sha in loaded_paths, \
                f"{path.name} kept as a duplicate without its submission"
            places[sha].append(f"duplicates:{path.name}")
            continue
        stored = loaded_paths.get(sha)
        assert stored and Path(stored).resolve() == path.resolve(), \
            f"{path.name} archived without its submission"
        places[sha].append(f"archive:{path.name}")
    for path in _files(ws / "data" / "rejected"):
        if path.name.endswith(".reason.md"):
            continue
        assert path.with_name(path.name + ".reason.md").is_file(), f"{path.name}: no reason"
        places[_sha256(path)].append(f"rejected:{path.name}")
    assert {sha: len(where) for sha, where in places.items()} == dict(originals), dict(places)
    if finished:
        assert not _files(workspace.intake / "riverbend"), "a finished run leaves intake empty"
        assert not _files(workspace.staging), "a finished run leaves no staged (raw) data behind"
    return {"loaded": loaded, "in_intake": len(_files(workspace.intake / "riverbend")),
            "published": link.is_symlink()}


def _results(ws: Path):
    return pq.read_table(Workspace(ws).published("riverbend") / "partnership" / "indicator_results.parquet")


def _fresh(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


def test_sigkill_at_random_points_loses_nothing(tmp_path: Path):
    template = Workspace(tmp_path / "template").add_definitions().root
    intake = template / "data" / "intake" / "riverbend"
    written = synth.write_sample(intake, children_per_year=60, years=(2023, 2024))
    # One file that is rejected, and one identical copy of a loaded file (a duplicate): the two
    # other endings a file can have, each with its own crash windows.
    (intake / "riverbend_schools" / "grades.csv").write_bytes(b"PK\x03\x04 an xlsx file")
    shutil.copy2(written[0], written[0].with_name("copy of " + written[0].name))
    originals = collections.Counter(_sha256(p) for p in _files(intake))
    total = sum(originals.values())
    assert total == len(written) + 2

    env = dict(os.environ, PREFECT_API_URL=prefect.settings.PREFECT_API_URL.value(),
               BACKBONE_SALT_RIVERBEND=SALT, PYTHONPATH=str(REPO_ROOT))
    zygote = Zygote(env)
    try:
        reference = _fresh(template, tmp_path / "uninterrupted")
        timeline = _timeline(zygote, reference, total)
        _check_consistent(reference, originals, finished=True)
        expected = _results(reference)

        # One kill per phase, at a seeded-random point of it. The kills compound on one workspace:
        # each run starts from the wreck the previous one left.
        rng = random.Random(SEED)
        bounds = [*PHASES, "end"]
        ws = _fresh(template, tmp_path / "killed-0")
        log, killed = [f"uninterrupted: {timeline}"], 0
        print(log[-1])
        for index, phase in enumerate(PHASES):
            after = rng.uniform(0.05, 0.7) * (timeline[bounds[index + 1]] - timeline[phase])
            files = None
            if phase == "loading":
                if not _files(ws / "data" / "intake"):
                    ws = _fresh(template, tmp_path / "killed-loading")  # an earlier kill was late
                # The shortest phase, and the one whose speed varies most, so its random point is
                # counted in files answered: the kill lands just after the k-th file moved.
                nth = rng.randint(1, total - 1)
                if _answered(ws) + 1 < total:
                    files, after = max(nth, _answered(ws) + 1), 0.0
            for attempt in (1, 2):
                code, at = _kill_in(zygote, ws, total, phase, after, files)
                state = _check_consistent(ws, originals, finished=False)
                where = f"after file {files}" if files else f"at {at:.2f}s"
                log.append(f"kill in {phase} {where} (exit {code}): {state}")
                print(log[-1])
                if code == -signal.SIGKILL:
                    killed += 1
                    break
                # The run beat its kill (the machine got faster): once more, earlier, and on fresh
                # input if that run left nothing for the next phases to do.
                after /= 2
                if phase != "finishing" and not state["in_intake"]:
                    ws = _fresh(template, tmp_path / f"killed-{index}-{attempt}")

        rerun = time.monotonic()
        zygote.start(ws)
        assert zygote.exit_code(timeout=300) == 0, (ws / "run.log").read_text()[-3000:]
        print(f"rerun to the end: {time.monotonic() - rerun:.1f}s")
        _check_consistent(ws, originals, finished=True)
        assert _results(ws).equals(expected), "the rerun published different numbers"
        assert killed >= len(PHASES) - 1, log  # the last phase is short: its kill may miss
    finally:
        zygote.close()
