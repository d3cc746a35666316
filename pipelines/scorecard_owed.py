"""The "Not final" note: a headline period some partner still owes data for, under `reporting:`.

A funder reading the latest number while a partner that feeds the indicator has not reported
that period reads an incomplete number as final. The submission status (pipelines/
submission_status.py) already knows, per partner x obligation x owed period, what arrived; this
module picks the rows that feed each indicator and says, under its headline, how many of those
partners still owe the headline period.

Which partners feed an indicator (decided from the definitions only, never from the data):
- an indicator measured from records is fed by every obligation of a partner that submits
  records whose `measures` name a column of the indicator's numerator or denominator, or that
  names no `measures` (a partner's whole file counts for it: every records partner fills the
  initiative's one record template, so each can carry the indicator's columns);
- an indicator from aggregates is fed by every obligation of a partner that submits aggregates
  whose `measures` name the indicator's id, or that names no `measures`.
Partners without a `reporting:` entry are not tracked and not counted.

An owed period feeds a headline period when the two overlap: a yearly report carries each of
its quarters, and a fiscal-year report carries the calendar quarters it spans. A partner still
owes the headline period when such a row is missing, not yet due or rejected. A period `held`
has data counted already and a correction waiting for `backbone accept`: that partner has sent
the period (a correction accepted later is a revision, as any other), so it adds no note.
The note is only for a headline period that is over on the day of the data: one not over says
so already ("is not over yet").

Who owes is the status, which is for the partnership only: the public page says how many
partners, never which, and its inputs (kept in the public manifest so `backbone scorecard`
can print the release again) carry no partner ids and no states beyond owed or received.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

from pipelines.scorecard_i18n import _, long_date

if TYPE_CHECKING:
    import pyarrow as pa

    from pipelines.config import InitiativeConfig

OWING_STATES = ("missing", "rejected", "not_yet_due")  # most pressing first


def feeding_obligations(config: InitiativeConfig) -> dict[str, set[tuple[str, int]]]:
    """Per indicator id, the (partner_id, obligation number) whose reports carry its data."""
    initiative = config.initiative
    out: dict[str, set[tuple[str, int]]] = {}
    for indicator in config.indicators:
        columns = {c.column for c in (*indicator.numerator, *indicator.denominator)}
        from_aggregates = indicator.source == "aggregates"
        feeds = set()
        for partner_id, obligations in initiative.reporting.items():
            if (initiative.partners[partner_id].submits == "aggregates") != from_aggregates:
                continue
            for number, obligation in enumerate(obligations):
                named = set(obligation.measures)
                if not named or (indicator.id in named if from_aggregates else named & columns):
                    feeds.add((partner_id, number))
        out[indicator.id] = feeds
    return out


def owed_view(config: InitiativeConfig, table: pa.Table | None, *, named: bool,
              salt: str = "") -> dict | None:
    """What the scorecard needs of the status table, per indicator: each fed owed period with
    its partner, dates and state. `named`: partner ids, names and states (the partnership);
    otherwise an opaque key per partner (a hash salted with `salt`, e.g. the release id) and
    only whether the period is still owed. None when there is no `reporting:` calendar."""
    if table is None or not config.initiative.reporting:
        return None
    needed = {"partner_id", "obligation", "period_start", "period_end", "due_date", "state"}
    if not needed <= set(table.column_names):
        return None  # not a status table this code knows how to read: no note, not a guess
    rows = table.to_pylist()
    feeds = feeding_obligations(config)

    def key(partner_id: str) -> str:
        if named:
            return partner_id
        return hashlib.sha256(f"{salt}\0{partner_id}".encode()).hexdigest()[:10]

    indicators = {}
    for indicator_id, pairs in feeds.items():
        indicators[indicator_id] = [
            {"partner": key(r["partner_id"]), "period_start": str(r["period_start"]),
             "period_end": str(r["period_end"]), "due_date": str(r["due_date"]),
             "state": r["state"] if named else
             ("owed" if r["state"] in OWING_STATES else "received")}
            for r in rows if (r["partner_id"], r["obligation"]) in pairs]
    as_of = rows[0]["as_of"] if rows else None
    view = {"as_of": None if as_of is None else str(as_of), "named": named,
            "indicators": indicators}
    if named:
        view["partner_names"] = {k: p.name for k, p in config.initiative.partners.items()}
    return view


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(str(text)[:10])


def _state_words(state: str) -> str:
    return {"missing": _("overdue"), "not_yet_due": _("not yet due"),
            "rejected": _("its file was rejected")}.get(state, "")


def not_final(owed: dict | None, indicator_id: str, period: object, period_name: str,
              as_of: dt.date | None) -> dict | None:
    """The headline's "Not final" note for the period `period` (a Period: start, end) shown as
    `period_name`, or None when every partner feeding it has sent it, no partner owes it, it
    is not over on `as_of`, or there is no calendar."""
    if not owed or period is None or as_of is None:
        return None
    start, end = getattr(period, "start", None), getattr(period, "end", None)
    if start is None or end is None or end > as_of:
        return None  # not over on the day of the data: "is not over yet" says it
    partners: dict[str, list[dict]] = {}
    for row in (owed.get("indicators") or {}).get(indicator_id) or []:
        if _day(row["period_start"]) <= end and _day(row["period_end"]) >= start:
            partners.setdefault(row["partner"], []).append(row)
    owing = {p: [r for r in found if r["state"] in (*OWING_STATES, "owed")]
             for p, found in partners.items()}
    owing = {p: found for p, found in owing.items() if found}
    if not owing:
        return None
    dues = sorted({_day(r["due_date"]) for found in owing.values() for r in found})
    due = (long_date(dues[0]) if len(dues) == 1 else
           _("%(first)s to %(last)s", first=long_date(dues[0]), last=long_date(dues[-1])))
    values = {"owing": len(owing), "partners": len(partners), "period": period_name, "due": due}
    names = owed.get("partner_names") if owed.get("named") else None
    if names is None and len(owing) == len(partners):
        # "1 of 1 partners" names the partner to anyone who knows who feeds the indicator.
        text = _("Not final: some data for %(period)s has not arrived yet (due %(due)s).",
                 **values)
    elif len(owing) == 1:
        text = _("Not final: %(owing)s of %(partners)s partners has not yet sent data for "
                 "%(period)s (due %(due)s).", **values)
    else:
        text = _("Not final: %(owing)s of %(partners)s partners have not yet sent data for "
                 "%(period)s (due %(due)s).", **values)
    who = []
    if names is not None:
        for partner, found in sorted(owing.items(), key=lambda item: names.get(item[0], item[0])):
            state = min((r["state"] for r in found), key=OWING_STATES.index)
            who.append({"name": names.get(partner, partner), "state": _state_words(state)})
    return {"text": text, "partners": who}


def status_in(folder) -> pa.Table | None:  # noqa: ANN001 - a Path
    """The status a partnership version published (its submissions.parquet), or None."""
    import duckdb

    path = folder / "submissions.parquet"
    if not path.is_file():
        return None
    con = duckdb.connect()
    try:
        return con.sql("SELECT * FROM read_parquet(?)", params=[str(path)]).to_arrow_table()
    finally:
        con.close()
