"""The typed view's columns: every partner cell as the template's type, computed while the file
is parsed (read.load_csv), next to the text as the partner wrote it.

Numbers are read the way partners write them ("$1,234.50", "1.234,5", "20 000"), and nothing else
is (pipelines.validate's `wrong_type` rule then names the cell); crosswalk value maps and
class-proxy codes are matched whatever their case; person ids lose invisible edge characters.
"""

from __future__ import annotations

from pipelines.config import Crosswalk, IntakeColumn, IntakeSchema
from pipelines.date_text import date_sql
from pipelines.invisible import strip_edges_sql, visible_ascii_sql
from pipelines.sql import sql_literal
from pipelines.unicode_forms import nfc_sql, nfc_unless_sql

# The SQL type each intake-schema column type is typed to (and stored as, for measures).
SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "date": "DATE"}
# Integer roles that end in an INTEGER record column (standardize.record_columns and
# AGGREGATE_COLUMNS). They are typed to INTEGER here, so a value past its range ("99999999999")
# is a quarantined `wrong_type` cell, not a cast that fails the whole file in standardize.
INTEGER_ROLES = frozenset({"household_size"})


def typed_sql_type(column: IntakeColumn) -> str:
    """The SQL type of `column` in `typed`: the type of the record column it ends in."""
    if column.role == "period":
        # Whatever its declared type ("integer" in templates from before period types): text,
        # each distinct value read once by pipelines.period_intake.
        return "VARCHAR"
    if column.type == "integer" and column.role in INTEGER_ROLES:
        return "INTEGER"
    return SQL_TYPES[column.type]


def _mapped_text(column: str, crosswalk: Crosswalk) -> str:
    """`column` through the crosswalk's value map, whatever the case; a value no key matches as
    written is tried again in NFC (pipelines.unicode_forms: a decomposed "Sí" is the key "Sí")
    and passed on in NFC, for the allowed values."""
    mapping = crosswalk.values.get(column)
    if not mapping:
        return column

    def cases(text: str) -> str:
        return " ".join(f"WHEN lower({text}) = {sql_literal(str(k).lower())} "
                        f"THEN {'NULL' if v is None else sql_literal(str(v))}"
                        for k, v in mapping.items())

    again = f"(CASE {cases(nfc_sql(column))} ELSE {nfc_sql(column)} END)"
    return f"(CASE {cases(column)} ELSE {again} END)"


def _proxy_code(text: str, crosswalk: Crosswalk) -> str:
    """The class-proxy code of `text` as the crosswalk spells it: matched as race codes are
    (pipelines.equity.race.code_lookup), whatever the case (and edge spaces, which the read
    stage trims from cells), so `f` is the crosswalk's `F`. Validation, standardize and measure then compare it with the crosswalk's
    own codes; `__text` keeps what the partner wrote. The usual cell is a code as spelled: one
    IN test."""
    codes = crosswalk.class_proxy
    if not codes:
        return text
    spelled = ", ".join(sql_literal(k) for k in codes)
    cases = " ".join(f"WHEN {sql_literal(key)} THEN {sql_literal(local)}"
                     for key, local in _proxy_keys(crosswalk).items())
    # Any other value in NFC (pipelines.unicode_forms): a decomposed "Sí" is the code "Sí".
    return (f"(CASE WHEN {text} IN ({spelled}) THEN {text} "
            f"ELSE coalesce(CASE lower({nfc_sql(text)}) {cases} END, {nfc_sql(text)}) END)")


def _proxy_keys(crosswalk: Crosswalk) -> dict[str, str]:
    """lower-case code -> the crosswalk's own spelling (the first, when two differ only by case:
    intake_schema refuses a crosswalk where they mean different classes)."""
    keys: dict[str, str] = {}
    for local in crosswalk.class_proxy:
        keys.setdefault(local.strip().lower(), local)
    return keys


# The spaces a thousands group may be separated by: the space, and the no-break (U+00A0),
# narrow no-break (U+202F, French-locale Excel) and thin (U+2009) spaces.
GROUP_SPACES = " \u00a0\u202f\u2009"


def _number_text(text: str, thousands_dots: bool = False) -> str:
    """Partner numbers as DuckDB reads them: "$1,234.50", "1.234,5" and "25000,50" all work.

    A comma is a thousands separator only in groups of three ("81,236", "1,234,567.5"); a lone
    comma before the last digits is a decimal comma (European exports, usually ';' files); dots in
    groups of three before a decimal comma are thousands. Anything else stays as written and fails
    the type rule rather than being read as a different number. So are spaces: only thousands
    groups ("20 000", "1 234 567,5") lose theirs; "1 2" is not 12 (the other GROUP_SPACES:
    number_sql). `thousands_dots` (a ';' file: European Excel writes those, with decimal commas)
    also reads dots in groups of three without a comma as thousands ("45.000", "1.234.567"):
    there "45.000" is forty-five thousand, where a ',' file's "45.000" stays 45 and its
    "1.234.567" fails the type rule. Commas in groups of three are thousands in either
    ("$47,016": US systems export ';' files too). The space rule wraps the comma rules rather
    than feeding them: nested, each copy of the text multiplied the expression and a small
    file's staging took 40% longer.
    """
    dollars = f"replace({text}, '$', '')"
    # One space may also stand next to the sign or a dropped "$" ("$ 20000", "- 5", "5 $").
    # Digits may be grouped by spaces or, beside such a space, by commas ("$ 45,000.00").
    spaced = "' ?-? ?(\\d+|\\d{1,3}( \\d{3})+|\\d{1,3}(,\\d{3})+)([.,]\\d+)? ?'"
    bare = f"replace({dollars}, ' ', '')"
    # A space elsewhere keeps the text as written, which then fails the type rule.
    return (f"(CASE WHEN contains({text}, ' ') AND NOT regexp_full_match({dollars}, {spaced}) "
            f"THEN {text} ELSE {_commas(bare, thousands_dots)} END)")


def number_sql(text: str, thousands_dots: bool = False) -> str:
    """SQL: the DOUBLE `text` means under _number_text's rules, with any of GROUP_SPACES as the
    space (NULL when it means none).

    Text that is not ASCII is never a number DuckDB reads (checked over every code point), so
    _number_text reads none with a no-break space: only cells it leaves NULL are tried again
    with the other spaces. The usual cell costs exactly what it did (a guard on every number
    cell cost a tenth of parsing and typing a file)."""
    space = f"[{GROUP_SPACES}]"
    grouped = f"'{space}?-?{space}?(\\d+|\\d{{1,3}}({space}\\d{{3}})+)([.,]\\d+)?{space}?'"
    unspaced = f"translate({text}, '${GROUP_SPACES}', '')"
    other = (f"(CASE WHEN regexp_full_match(replace({text}, '$', ''), {grouped}) "
             f"THEN {_commas(unspaced, thousands_dots)} END)")
    return (f"coalesce(TRY_CAST({_number_text(text, thousands_dots)} AS DOUBLE), "
            f"TRY_CAST({other} AS DOUBLE))")


def _commas(bare: str, thousands_dots: bool = False) -> str:
    """`bare` (no space, no "$") with its thousands separators dropped and a decimal comma made
    a point, when they follow the rules of _number_text; else as it is."""
    # A leading group of 0 ("0.125") is never thousands. Commas in groups of three stay
    # thousands in a ';' file too: US systems export ';' files ("$47,016" is not 47.016).
    dots = (f"WHEN regexp_full_match({bare}, '-?[1-9]\\d{{0,2}}(\\.\\d{{3}})+') "
            f"THEN replace({bare}, '.', '') " if thousands_dots else "")
    return (f"(CASE {dots}WHEN NOT contains({bare}, ',') THEN {bare} "
            f"WHEN regexp_full_match({bare}, '-?\\d{{1,3}}(,\\d{{3}})+(\\.\\d+)?') "
            f"THEN replace({bare}, ',', '') "
            f"WHEN regexp_full_match({bare}, '-?(\\d+|\\d{{1,3}}(\\.\\d{{3}})+),\\d+') "
            f"THEN replace(replace({bare}, '.', ''), ',', '.') "
            f"ELSE {bare} END)")


def _typed(column: IntakeColumn, text: str, thousands_dots: bool = False) -> str:
    if column.type == "string":
        return text
    number = number_sql(text, thousands_dots)
    if column.type == "number":
        # "inf", "NaN" and "1e400" (read as inf) are no amount: NULL, so `wrong_type`, not a
        # value that passes an unbounded column and poisons every sum it enters.
        return f"(CASE WHEN isfinite({number}) THEN {number} END)"
    if column.type == "integer":
        # An integer written the way DuckDB writes it back ("0", "2024", "-3"), the usual case,
        # is cast directly: a third of the CPU of matching a regular expression first. Anything
        # else ("05", "1,000", "2.0") takes the general path, which parses the text thrice. Past
        # the range of the record column it ends in, a whole number is no integer we can hold:
        # NULL, so `wrong_type`.
        target = typed_sql_type(column)
        direct = f"TRY_CAST({text} AS {target})"
        # A 0/1 column exported from a boolean field (pandas, R, SQL, Sheets write TRUE/FALSE,
        # True/False): true is 1 and false is 0 in every one of them, so no guess.
        flags = (f"WHEN upper({text}) = 'TRUE' THEN 1 WHEN upper({text}) = 'FALSE' THEN 0 "
                 if sorted(column.allowed or []) == [0, 1] else "")
        return (f"(CASE WHEN {direct}::VARCHAR = {text} THEN {direct} {flags}"
                f"WHEN {number} = floor({number}) THEN TRY_CAST({number} AS {target}) END)")
    return date_sql(text)


def typed_columns(schema: IntakeSchema, crosswalk: Crosswalk, present: list[str],
                  thousands_dots: bool = False) -> tuple[str, str]:
    """The columns of `typed`: every template column, `<name>` typed and `<name>__text` as the
    partner wrote it (NULL for columns the file lacks), as two SELECT lists for `read.load_csv`:
    what is computed while parsing and stored, and what the view adds over the stored columns.

    Typing while parsing holds the file in memory once, and GX then runs its dozens of queries on
    stored values, not on casts and regular expressions redone per query. Only what differs is
    stored: a text column the crosswalk does not recode is its own `__text`, and a column the
    file lacks is a NULL constant. Stored, those took more memory than the file's real columns.
    """
    stored, exposed = [], []
    for column in schema.columns:
        name = column.name
        text = _mapped_text(name, crosswalk)
        if column.role == "class_proxy":
            text = _proxy_code(text, crosswalk)
        elif text == name:
            text = _compared_text(column)
        if name not in present:
            exposed += [f"NULL::{typed_sql_type(column)} AS {name}",
                        f"NULL::VARCHAR AS {name}__text"]
        elif column.role == "person_id" and column.type == "string" and text == name:
            stored.append(f"{_person_id_text(name)} AS {name}")  # stripped, as read
            exposed += [name, f"{name} AS {name}__text"]
        elif column.role == "state" and text == name and not column.required:
            # No state is spelled NA or NULL: a SQL Server / R export's empty state.
            stored.append(f"{_unmarked(column, crosswalk, text_too=True)} AS {name}")
            exposed += [name, f"{name} AS {name}__text"]
        elif (column.type == "string" or column.role == "period") and text == name:
            stored.append(name)
            exposed += [name, f"{name} AS {name}__text"]
        elif column.role == "period":
            stored += [f"{text} AS {name}", f"{name} AS {name}__text"]
            exposed += [name, f"{name}__text"]
        else:
            stored += [f"{_typed(column, text, thousands_dots)} AS {name}",
                       f"{_unmarked(column, crosswalk)} AS {name}__text"]
            exposed += [name, f"{name}__text"]
    return ", ".join(stored) or "NULL AS _no_template_column", ", ".join(exposed)


# What R's write.csv ("NA") and SQL Server exports ("NULL") write for a missing value. Only in
# typed columns, where no number or date is spelled so, and the state (no state is): in other
# text columns "NA" may be a code.
MISSING_MARKERS = ("NA", "NULL")


def _unmarked(column: IntakeColumn, crosswalk: Crosswalk, text_too: bool = False) -> str:
    """`column` as the partner wrote it, NULL (a blank cell) when it is only a missing marker the
    partner's crosswalk does not map to a value. A required column keeps the marker, so its
    refusal shows the cell as written ("must be an integer": NA), not a blank."""
    name = column.name
    if column.required:
        return name
    mapping = crosswalk.values.get(name, {})
    # Words the crosswalk maps to null are blank cells too (its value map makes them NULL).
    words = [str(k).upper() for k, v in mapping.items() if v is None]
    if column.type != "string" or text_too:
        mapped = {str(k).upper() for k in mapping}
        words += [m for m in MISSING_MARKERS if m not in mapped]
    if not words:
        return name
    listed = ", ".join(sql_literal(m) for m in words)
    return f"(CASE WHEN upper({name}) IN ({listed}) THEN NULL ELSE {name} END)"


def _person_id_text(name: str) -> str:
    """`name` without invisible edge characters (pipelines.invisible), NULL if nothing else:
    copy-paste leaves them, no partner can see them, and kept they hash to another person. The
    usual id begins and ends with a visible ASCII character: two code point tests, ~80 ns a row
    on one core (a fifth of hashing it); only other ids take the regular expression. In NFC
    (pipelines.unicode_forms), so an id with accents is one person in either form; an ASCII id,
    the usual one, is returned after a byte scan."""
    def read(text: str) -> str:
        return (f"(CASE WHEN {visible_ascii_sql(text)} AND "
                f"{visible_ascii_sql(f'right({text}, 1)')} THEN {nfc_sql(text)} "
                f"ELSE NULLIF({nfc_sql(strip_edges_sql(text))}, '') END)")

    # One test of the first character (' is 39, = is 61) before the usual id's path.
    return (f"(CASE WHEN ascii({name}) NOT IN (39, 61) THEN {read(name)} "
            f"ELSE {read(_unwrapped_id(name))} END)")


def _unwrapped_id(name: str) -> str:
    """`name` without the wrappers exports use to keep an id's leading zeros from Excel: the
    formula `="00123"` (what some student systems write) and a leading apostrophe (`'00123`,
    Excel's text prefix, typed into the file). Both are the id 00123; kept, they would be
    another person than the same child sent plainly, or fail the template's pattern."""
    return (f"(CASE WHEN regexp_full_match({name}, '=\"[^\"]*\"') THEN {name}[3:-2] "
            f"WHEN ascii({name}) = 39 THEN {name}[2:] ELSE {name} END)")


# Text roles compared with definition text after staging: an aggregate table's groups (with
# the template's labels), a measure (with indicator conditions' values).
_COMPARED_ROLES = frozenset({"race_group", "class_group", "measure"})


def _compared_text(column: IntakeColumn) -> str:
    """A text column compared with definition text, in NFC (pipelines.unicode_forms); a value
    already among the allowed ones is kept as it is. Other columns as written: race codes are
    brought to NFC once per distinct code list where they are read (validate, standardize), a
    period once per distinct value (period_forms.squeeze), a person id by _person_id_text."""
    name = column.name
    if column.type != "string" or column.role == "person_id" or (
            column.allowed is None and column.role not in _COMPARED_ROLES):
        return name
    if not column.allowed:
        return nfc_sql(name)
    allowed = ", ".join(sql_literal(str(v)) for v in column.allowed)
    spelled = {str(v).lower(): str(v) for v in column.allowed}
    if len(spelled) < len(column.allowed):  # values told apart by case alone: kept as written
        return nfc_unless_sql(name, f"{name} IN ({allowed})")
    # Whatever its case, as race codes and value maps match ("All" is the label "ALL").
    cases = " ".join(f"WHEN {sql_literal(low)} THEN {sql_literal(value)}"
                     for low, value in spelled.items())
    return (f"(CASE WHEN {name} IN ({allowed}) THEN {name} "
            f"ELSE coalesce(CASE lower({nfc_sql(name)}) {cases} END, {nfc_sql(name)}) END)")
