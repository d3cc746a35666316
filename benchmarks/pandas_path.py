"""The comparison path: the same per-file work done the common way, pandas + GX's pandas engine.

For each person-level file (the housing authority's aggregate files are a few KB and skipped):

1. sha256 of the file (duplicate detection needs it in any design);
2. `pandas.read_csv` (C engine, all columns as text) in the file's encoding and delimiter
   (UTF-8 first, cp1252 when that fails; the delimiter from the header line);
3. header aliases mapped with `pipelines.read.map_header`, cells trimmed, blanks to missing,
   crosswalk value maps applied and typed columns derived (as `typed.typed_columns`);
4. the SAME generated suite (`validate.build_suite`) validated with GX's pandas datasource
   (`add_pandas().add_dataframe_asset()`, whole-dataframe batch). GX runs an
   `UnexpectedRowsExpectation` only on SQL, so each of those is replaced by its pandas
   equivalent: wrong type / unknown race code / other partner as a per-row 0/1 column expected to
   be in {1}; pattern as `ExpectColumnValuesToMatchRegex`; duplicate key as
   `ExpectCompoundColumnsToBeUnique`;
5. failing rows (GX's unexpected index lists, keyed by spreadsheet row) set aside;
6. standardization as `standardize.standardize`: salted sha256 person key, SPD 15 race flags from
   local codes and 0/1 columns, the period's label, type and dates (each distinct value read
   once, as `period_intake`), poverty ratio for the year the period starts/state/size, class
   band or proxy;
7. cells: unduplicated people and measure sums by period x race (alone) x class, with margins.

It does less than the pipeline (no warehouse, no cross-file unduplication, no publish), so the
ratio against the nightly run is conservative. Prints one JSON line per file, then a summary.

    python -m benchmarks.pandas_path --home WS FILE:PARTNER [FILE:PARTNER ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipelines import read  # noqa: E402
from pipelines.config import REPO_ROOT, Workspace  # noqa: E402
from pipelines.equity.poverty import STATE_REGIONS, US_STATES  # noqa: E402
from pipelines.equity.race import code_lookup  # noqa: E402
from pipelines.equity.workspace import EquityStandards  # noqa: E402
from pipelines.period_intake import (DAY_FIRST, EXCEL_DAY_NUMBER, EXCEL_DAYS,  # noqa: E402
                                     day_first_values, default_type)
from pipelines.periods import parse_label  # noqa: E402
from pipelines.standardize import RACE_CODES  # noqa: E402
from pipelines.validate import SCIENTIFIC_ID, build_suite  # noqa: E402

# The benchmark compares engines on the sample's definitions, as shipped.
STANDARDS = EquityStandards.load(REPO_ROOT / "schemas" / "equity")

RESULT_FORMAT = {"result_format": "COMPLETE", "unexpected_index_column_names": ["_row"],
                 "partial_unexpected_count": 5}


def load(path: Path, schema, crosswalk) -> pd.DataFrame:
    with path.open("rb") as handle:
        head = handle.read(65536)
    encoding = "utf-8-sig"
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding = "cp1252"
    first = head.decode(encoding, errors="replace").splitlines()[0]
    delimiter = read._pick_delimiter(first)

    def read_with(enc: str) -> pd.DataFrame:
        return pd.read_csv(path, sep=delimiter, encoding=enc, dtype=str, keep_default_na=False,
                           na_filter=False, engine="c", quotechar='"', doublequote=True)
    try:
        frame = read_with(encoding)
    except UnicodeDecodeError:
        frame = read_with("cp1252")
    header_map = read.map_header(list(frame.columns), schema, crosswalk)
    frame = frame.iloc[:, sorted(header_map.positions)]
    frame.columns = [header_map.positions[p] for p in sorted(header_map.positions)]
    for column in frame.columns:
        frame[column] = frame[column].str.strip().replace("", pd.NA)
    frame.insert(0, "_row", np.arange(2, len(frame) + 2, dtype=np.int64))
    return frame


def typed(frame: pd.DataFrame, schema, crosswalk) -> pd.DataFrame:
    """typed.typed_columns, in pandas: `<name>` typed and `<name>__text` as written."""
    out = {"_row": frame["_row"]}
    for column in schema.columns:
        name = column.name
        if name not in frame.columns:
            continue
        text = frame[name]
        mapping = crosswalk.values.get(name)
        mapped = text
        if mapping:
            lowered = text.str.lower()
            mapped = text.copy()
            for key, value in mapping.items():
                mapped = mapped.mask(lowered == str(key).lower(), str(value))
        if column.type == "string" or column.role == "period":
            value = mapped
        else:
            number = pd.to_numeric(mapped.str.replace(r"[$,\s]", "", regex=True), errors="coerce")
            value = number.where(number == np.floor(number)) if column.type == "integer" else number
        out[name] = value
        out[f"{name}__text"] = text
    return pd.DataFrame(out)


def periods(values: pd.Series, schema, crosswalk, calendar) -> pd.DataFrame:
    """Each distinct period value read once (as `period_intake.register_periods`), indexed by
    the value: label, type, start and end, or the problem."""
    kind = default_type(schema, crosswalk)
    rows = {}
    distinct = values.dropna().unique()
    day_first = day_first_values([str(t) for t in distinct], crosswalk.period.labels)
    for text in distinct:
        try:
            if text in day_first:
                raise ValueError(DAY_FIRST)
            found = parse_label(text, calendar, kind, crosswalk.period.labels)
            rows[text] = (found.label, found.type, pd.Timestamp(found.start),
                          pd.Timestamp(found.end), None)
        except ValueError as exc:
            rows[text] = (None, None, pd.NaT, pd.NaT, str(exc))
    return pd.DataFrame.from_dict(rows, orient="index", columns=[
        "label", "period_type", "period_start", "period_end", "problem"])


def pandas_suite(frame: pd.DataFrame, suite, schema, crosswalk, partner_id: str,
                 calendar=None):
    """The generated suite with its SQL-only expectations replaced by pandas equivalents."""
    replaced = gx.ExpectationSuite(name=suite.name + ".pandas")
    lookup = code_lookup(crosswalk, STANDARDS.race)
    for expectation in suite.expectations:
        meta = expectation.meta or {}
        if not isinstance(expectation, gx.expectations.UnexpectedRowsExpectation):
            replaced.add_expectation(expectation.copy(update={"id": None}))
            continue
        rule, name = meta.get("rule"), meta.get("column", "")
        column = schema.column(name) if "+" not in name else None
        if rule in ("wrong_type", "percent_sign"):
            wrong = frame[f"{name}__text"].notna() & frame[name].isna()
            if column is not None and column.type != "date":  # as validate: "45%" is its own rule
                percent = frame[f"{name}__text"].str.contains("%", regex=False).fillna(False)
                wrong &= percent if rule == "percent_sign" else ~percent
            frame[f"{name}__{rule}_ok"] = (~wrong).astype(int)
            new = gx.expectations.ExpectColumnValuesToBeInSet(column=f"{name}__{rule}_ok",
                                                              value_set=[1])
        elif rule == "bad_format":
            new = gx.expectations.ExpectColumnValuesToMatchRegex(
                column=f"{name}__text", regex=f"^(?:{column.pattern})$")
        elif rule == "id_in_scientific_notation":
            new = gx.expectations.ExpectColumnValuesToNotMatchRegex(
                column=f"{name}__text", regex=f"^(?:{SCIENTIFIC_ID})$")
        elif rule == "not_a_state":
            state = frame[f"{name}__text"].str.strip().str.upper()
            frame[f"{name}__state_ok"] = (state.isna() | (state == "") |
                                          state.isin(sorted(US_STATES))).astype(int)
            new = gx.expectations.ExpectColumnValuesToBeInSet(column=f"{name}__state_ok",
                                                              value_set=[1])
        elif rule == "unknown_race_code":
            codes = frame[name].str.split(crosswalk.race_separator, regex=False).explode()
            codes = codes.str.strip()
            bad = codes.notna() & (codes != "") & ~codes.str.lower().isin(list(lookup))
            frame[f"{name}__ok"] = (~bad.groupby(level=0).any()).astype(int)
            new = gx.expectations.ExpectColumnValuesToBeInSet(column=f"{name}__ok", value_set=[1])
        elif rule == "other_partner":
            frame[f"{name}__ok"] = (~(frame[name].notna() & (frame[name].str.lower() != partner_id))
                                    ).astype(int)
            new = gx.expectations.ExpectColumnValuesToBeInSet(column=f"{name}__ok", value_set=[1])
        elif column is not None and column.role == "period" and rule in (
                "bad_period", "excel_date_number", "day_first_date", "out_of_range",
                "future_period"):
            found = periods(frame[name], schema, crosswalk, calendar).reindex(frame[name])
            found.index = frame.index
            if rule == "day_first_date":
                bad = found["problem"] == DAY_FIRST
            elif rule in ("bad_period", "excel_date_number"):
                text = frame[name].astype("string").str.strip()
                serial = (text.str.fullmatch(EXCEL_DAY_NUMBER).fillna(False)
                          & pd.to_numeric(text, errors="coerce").between(*EXCEL_DAYS))
                bad = found["problem"].notna() & (found["problem"] != DAY_FIRST) & (
                    serial if rule == "excel_date_number" else ~serial)
            elif rule == "out_of_range":
                bad = pd.Series(False, index=frame.index)
                if column.min is not None:
                    bad |= found["period_start"].dt.year < int(column.min)
                if column.max is not None:
                    bad |= found["period_end"].dt.year > int(column.max)
            else:
                bad = found["period_start"] > pd.Timestamp.today().normalize()
            frame[f"{name}__{rule}_ok"] = (~bad.fillna(False)).astype(int)
            new = gx.expectations.ExpectColumnValuesToBeInSet(column=f"{name}__{rule}_ok",
                                                              value_set=[1])
        elif rule == "duplicate_key":
            new = gx.expectations.ExpectCompoundColumnsToBeUnique(
                column_list=name.split("+"), ignore_row_if="any_value_is_missing")
        else:
            raise ValueError(f"no pandas equivalent for rule {rule!r}")
        new.meta = meta
        replaced.add_expectation(new)
    return replaced


def standardize(frame: pd.DataFrame, config, partner_id: str, salt: str) -> pd.DataFrame:
    """standardize.standardize in pandas."""
    schema, crosswalk = config.record_schema, config.crosswalks[partner_id]

    def role(name: str):
        found = schema.by_role(name)
        return frame[found[0].name] if found and found[0].name in frame else pd.Series(
            pd.NA, index=frame.index, dtype="object")

    out = pd.DataFrame({"source_row": frame["_row"], "partner_id": partner_id})
    person = frame[schema.by_role("person_id")[0].name]
    prefix = (salt + ":").encode()
    out["person_key"] = [hashlib.sha256(prefix + p.encode()).hexdigest() for p in person]
    period_values = frame[schema.by_role("period")[0].name]
    found = periods(period_values, schema, crosswalk,
                    config.initiative.calendar).reindex(period_values)
    for column in ("label", "period_type", "period_start", "period_end"):
        out[column if column != "label" else "period"] = found[column].to_numpy()
    out["guideline_year"] = out["period_start"].dt.year
    flags = {code: pd.Series(False, index=frame.index) for code in RACE_CODES}
    codes_column = next((c.name for c in schema.by_role("race_codes")), None)
    if codes_column and codes_column in frame:
        lookup = code_lookup(crosswalk, STANDARDS.race)
        exploded = frame[codes_column].str.split(crosswalk.race_separator, regex=False).explode()
        mapped = exploded.str.strip().str.lower().map(
            lambda v: lookup.get(v, ()) if isinstance(v, str) else ())
        mapped = mapped.explode().dropna()
        for code in RACE_CODES:
            hit = (mapped == code).groupby(level=0).any()
            flags[code] = flags[code] | hit.reindex(frame.index, fill_value=False)
    for column in schema.by_role("race_flag"):
        if column.name in frame:
            flags[column.race_code] = flags[column.race_code] | (frame[column.name] == 1)
    for code in RACE_CODES:
        out[f"race_{code}"] = flags[code].astype(bool)
    out["race_reported"] = out[[f"race_{c}" for c in RACE_CODES]].any(axis=1)
    income = pd.to_numeric(role("household_income"), errors="coerce")
    size = pd.to_numeric(role("household_size"), errors="coerce")
    state = role("state").fillna(config.initiative.state or "XX").astype(str).str.upper()
    region = state.map(STATE_REGIONS).fillna("contiguous")
    guidelines = STANDARDS.poverty_guidelines
    amount = pd.Series(np.nan, index=frame.index)
    for (period, reg), index in out.groupby([out["guideline_year"], region]).groups.items():
        years = [g for g in guidelines if g.region == reg]
        chosen = max((g for g in years if g.year <= period), key=lambda g: g.year, default=None) \
            or min(years, key=lambda g: g.year)
        amount.loc[index] = chosen.first_person + chosen.each_additional * (size.loc[index] - 1)
    ratio = income / amount
    bands = STANDARDS.class_bands
    edges = [-np.inf] + [b.upper for b in bands.bands[:-1]] + [np.inf]
    band = pd.cut(ratio, edges, right=False, labels=[b.label for b in bands.bands]).astype(object)
    proxy = role("class_proxy").map(dict(crosswalk.class_proxy)) if crosswalk.class_proxy else None
    klass = band.where(ratio.notna())
    if proxy is not None:
        klass = klass.fillna(proxy)
    out["household_income"], out["household_size"], out["state"] = income, size, state
    out["poverty_ratio"] = ratio
    out["class"] = klass.fillna(bands.not_reported_label)
    for column in schema.by_role("measure"):
        out[column.name] = frame[column.name] if column.name in frame else np.nan
    return out


def cells(records: pd.DataFrame, schema) -> pd.DataFrame:
    race = STANDARDS.race
    flag_columns = [f"race_{c}" for c in RACE_CODES]
    count = records[flag_columns].sum(axis=1)
    alone = pd.Series(race.multiracial_label, index=records.index)
    for code in RACE_CODES:
        alone = alone.mask((count == 1) & records[f"race_{code}"], race.label(code))
    records = records.assign(race=alone.mask(count == 0, race.not_reported_label))
    measures = [c.name for c in schema.by_role("measure")]
    aggregations = {"people": ("person_key", "nunique"),
                    **{f"{m}_numerator": (m, lambda s: (s == 1).sum()) for m in measures},
                    **{f"{m}_denominator": (m, "count") for m in measures}}
    frames = []
    for keys in (["period", "race", "class"], ["period", "race"], ["period", "class"], ["period"]):
        frames.append(records.groupby(keys).agg(**aggregations).reset_index())
    return pd.concat(frames, ignore_index=True)


def process(path: Path, partner_id: str, config, salt: str, context) -> dict:
    times = {}
    started = time.perf_counter()
    digest = read.sha256_file(path)
    times["sha256"] = time.perf_counter() - started
    schema, crosswalk = config.schema_for(partner_id), config.crosswalks[partner_id]

    mark = time.perf_counter()
    frame = typed(load(path, schema, crosswalk), schema, crosswalk)
    times["read_csv+typing"] = time.perf_counter() - mark

    mark = time.perf_counter()
    present = [c.name for c in schema.columns if c.name in frame.columns]
    suite = pandas_suite(frame, build_suite(schema, crosswalk, partner_id, present,
                                                    race=STANDARDS.race), schema,
                         crosswalk, partner_id, config.initiative.calendar)
    source = context.data_sources.add_pandas(name=f"pandas_{digest[:12]}")
    asset = source.add_dataframe_asset(name="file")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    context.data_sources.delete(source.name)
    bad: set[int] = set()
    for item in result.results:
        if item.success or (item.expectation_config.meta or {}).get("rule") == "no_rows":
            continue
        for entry in (item.result or {}).get("unexpected_index_list") or []:
            bad.add(int(entry["_row"]) if isinstance(entry, dict) else int(entry))
    times["gx_pandas_validate"] = time.perf_counter() - mark

    mark = time.perf_counter()
    kept = frame[~frame["_row"].isin(bad)]
    records = standardize(kept, config, partner_id, salt)
    times["standardize"] = time.perf_counter() - mark

    mark = time.perf_counter()
    table = cells(records, schema)
    times["cells"] = time.perf_counter() - mark
    return {"file": str(path), "partner": partner_id, "bytes": path.stat().st_size,
            "rows": len(frame), "quarantined_rows": len(bad), "records": len(records),
            "cells": len(table), "gx_success": result.success,
            "seconds": time.perf_counter() - started, "stages": times}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("files", nargs="+", help="PATH:PARTNER")
    args = parser.parse_args(argv)
    config = Workspace.resolve(args.home).load("riverbend")
    context = gx.get_context(mode="ephemeral")
    total = []
    for spec in args.files:
        path, partner = spec.rsplit(":", 1)
        outcome = process(Path(path), partner, config, "benchmark-salt", context)
        total.append(outcome)
        print(json.dumps(outcome), flush=True)
    print(json.dumps({"summary": True, "seconds": sum(o["seconds"] for o in total),
                      "bytes": sum(o["bytes"] for o in total)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
