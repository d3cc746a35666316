"""Discover: what is taken when, and what is filed where, so every file gets an answer."""

from __future__ import annotations

import os
import time

from bad_corpus import SCHOOLS, schools
from pipelines import ingest, warehouse
from pipelines.discover import discover

from conftest import drop

LONG_AGO = time.time() - 3600


def _found(workspace, config) -> dict[str, tuple[str, str | None]]:
    """What discover lists: path under the partner folders -> (partner id, rule)."""
    base = workspace.intake / "riverbend"
    return {str(f.path.relative_to(base)): (f.partner_id, f.problem.rule if f.problem else None)
            for f in discover(workspace, config)}


def test_a_file_is_taken_only_once_it_has_not_changed_for_a_while(workspace, config,
                                                                   monkeypatch):
    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", "60")
    writing = drop(workspace, SCHOOLS, "RUSD 2023.csv", schools(tag="W")[:300])
    starting = drop(workspace, SCHOOLS, "RUSD 2024.csv", b"")  # an upload that just began
    assert _found(workspace, config) == {}
    os.utime(writing, (LONG_AGO, LONG_AGO))
    assert _found(workspace, config) == {f"{SCHOOLS}/RUSD 2023.csv": (SCHOOLS, None)}
    os.utime(starting, (LONG_AGO, LONG_AGO))  # still empty long after: an empty file
    assert set(_found(workspace, config)) == {f"{SCHOOLS}/RUSD 2023.csv",
                                              f"{SCHOOLS}/RUSD 2024.csv"}
    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", "0")
    drop(workspace, SCHOOLS, "RUSD 2025.csv", schools(tag="X"))
    assert f"{SCHOOLS}/RUSD 2025.csv" in _found(workspace, config)


def test_a_date_from_the_senders_clock_does_not_hold_a_file_forever(workspace, config,
                                                                     monkeypatch):
    """An upload that keeps the sender's (wrong, future) time is judged by when it arrived."""
    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", "60")
    path = drop(workspace, SCHOOLS, "RUSD 2023.csv", schools(tag="F"))
    future = time.time() + 86400 * 365
    os.utime(path, (future, future))
    assert _found(workspace, config) == {}  # arrived just now
    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", "0.000001")
    assert _found(workspace, config) == {f"{SCHOOLS}/RUSD 2023.csv": (SCHOOLS, None)}


def test_a_partner_folder_that_is_a_link_is_answered_and_never_filed_as_that_partner(
        workspace, config, tmp_path_factory):
    """A link named like a real partner: its files are answered (the link is moved aside whole,
    nothing outside is touched) and filed under a name no partner can have."""
    outside = tmp_path_factory.mktemp("share")
    (outside / "RUSD_2023.csv").write_bytes(schools(tag="LNK"))
    intake = workspace.intake / "riverbend"
    intake.mkdir(parents=True, exist_ok=True)
    link = intake / SCHOOLS
    link.symlink_to(outside, target_is_directory=True)
    [found] = discover(workspace, config)
    assert (found.path, found.partner_id, found.problem.rule) == (
        link, f"_unregistered/{SCHOOLS}", "symlink")
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        [settled] = ingest.settle_all(con, workspace, config, [],
                                      [(str(link), found.partner_id, found.problem.as_dict())],
                                      "test")
    finally:
        con.close()
    assert settled.status == "rejected" and not os.path.lexists(link)
    filed = workspace.path("data", "rejected", "riverbend", f"_unregistered_{SCHOOLS}")
    assert [p.is_symlink() for p in filed.iterdir() if not p.name.endswith(".md")] == [True]
    assert not workspace.path("data", "rejected", "riverbend", SCHOOLS).exists()
    assert not workspace.reports("riverbend", SCHOOLS).exists()
    assert (outside / "RUSD_2023.csv").read_bytes() == schools(tag="LNK")


def test_names_that_are_not_utf8_are_renamed_to_text(workspace, config):
    intake = os.fsencode(workspace.intake / "riverbend")
    os.makedirs(intake + b"/\xe9cole du nord")  # not a partner: its files are still answered
    for folder in (intake + b"/\xe9cole du nord", intake + b"/" + SCHOOLS.encode()):
        os.makedirs(folder, exist_ok=True)
        for name in (b"caf\xe9.csv", b"caf\x81.csv"):  # 0x81: not Windows-1252 either
            with open(folder + b"/" + name, "wb") as handle:
                handle.write(schools(tag="N"))
    drop(workspace, SCHOOLS, "café.csv", schools(tag="TAKEN"))  # the name it would take
    unknown = ("_unregistered/école du nord", "unknown_partner")
    assert _found(workspace, config) == {
        f"{SCHOOLS}/caf_.csv": (SCHOOLS, None), f"{SCHOOLS}/café (2).csv": (SCHOOLS, None),
        f"{SCHOOLS}/café.csv": (SCHOOLS, None),
        "école du nord/caf_.csv": unknown, "école du nord/café.csv": unknown}
    assert (workspace.intake / "riverbend" / SCHOOLS / "café.csv").read_bytes() == \
        schools(tag="TAKEN")


def test_files_left_to_settle_are_listed_as_still_arriving(workspace, config, monkeypatch):
    """A run that takes nothing must not say nothing was there: what discover leaves for a
    later run because it is still being written is named, plain temporary names aside."""
    from pipelines.discover import arriving

    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", "60")
    done = drop(workspace, SCHOOLS, "RUSD 2023.csv", schools(tag="D"))
    os.utime(done, (LONG_AGO, LONG_AGO))
    drop(workspace, SCHOOLS, "RUSD 2024.csv", schools(tag="W")[:300])
    drop(workspace, SCHOOLS, "RUSD 2025.csv.part", b"Student")
    drop(workspace, SCHOOLS, ".DS_Store", b"")
    drop(workspace, SCHOOLS, "~$RUSD 2024.xlsx", b"")
    found = discover(workspace, config)
    assert [f.path.name for f in found] == ["RUSD 2023.csv"]
    assert arriving(workspace, config, found) == [f"{SCHOOLS}/RUSD 2024.csv",
                                                  f"{SCHOOLS}/RUSD 2025.csv.part"]
