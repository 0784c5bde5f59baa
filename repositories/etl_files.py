"""Per-file SQL of the CSV loads: the checks that give a line its reject reason, and the upsert.

Each file's `Checked` reads `parsed(line_number, raw, f1 .. fN, v1 .. vN, nf)`: `reasons` yields
one row per line with `reason` null for a good line (the first failing check names the reason),
`good` the good lines alone, from the same list of checks. `f` is the field as written, `v` its
value: trimmed text, or for a number or date column the typed value, null when the field is not
one (see `EtlRepository._parsed`). A reason quotes the field as written when it is no value of its
type, and the value as it would be stored (`-5.00`) when it is out of range. Checks mirror the
tables' constraints, so a good line never makes the insert fail. Duplicates are found with one hash
aggregate over the keys (no sort of the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _f(i: int) -> str:
    return f"p.v{i}"


# A check: (condition, reason). A line's reason is that of its first true condition (a CASE), and a
# line is good when none is true (`Checked.good`): the two are built from the same list.
Check = tuple[str, str]


def _number(i: int, name: str, kind: str) -> list[Check]:
    # NaN is a numeric PostgreSQL reads (and sorts above every number), never an amount
    return [(f"{_f(i)} is null or {_f(i)} = 'NaN'", f"format('{name} is not a number of type {kind}: %s', p.f{i})")]


# Extract dates outside these years are typos, not history: the rebuilds convert, age and
# calendar every stored date, and nothing between them can overflow or make a calendar of
# millions of days (README, the factoring rules).
FIRST_DATE = "1900-01-01"
LAST_DATE = "2199-12-31"


def _date(i: int, name: str) -> list[Check]:
    return [(f"{_f(i)} is null", f"format('{name} is not a date (YYYY-MM-DD): %s', p.f{i})"),
            (f"{_f(i)} < date '{FIRST_DATE}' or {_f(i)} > date '{LAST_DATE}'",
             f"format('{name} must be between {FIRST_DATE} and {LAST_DATE}: %s', p.f{i})")]


def _kept(n: int) -> str:
    return "p.line_number, p.raw, " + ", ".join(f"p.v{i}" for i in range(1, n + 1))


def _fields(n: int) -> list[Check]:
    return [(f"p.nf <> {n}", f"format('expected {n} fields, found %s', p.nf)")]


# The first line of each key that occurs more than once; the later ones are rejected.
DUPLICATES = """left join (select v1 as key, min(line_number) as first_line from parsed
                   group by 1 having count(*) > 1) as dup on dup.key = p.v1"""
DUPLICATE: Check = ("dup.first_line is not null and p.line_number <> dup.first_line",
                    "format('duplicate of line %s', dup.first_line)")


@dataclass(frozen=True, slots=True)
class Checked:
    """The checks of one file over `parsed p`: the columns a good line keeps, the checks in order
    (the duplicate check last), and the joins they read."""

    columns: str
    checks: tuple[Check, ...]
    joins: str = ""

    def _from(self, duplicates: bool) -> str:
        return f"from parsed p {DUPLICATES if duplicates else ''} {self.joins}"

    def reasons(self, *, duplicates: bool) -> str:
        """Every line with its kept columns and its reason (null for a good line)."""
        checks = [*self.checks, DUPLICATE] if duplicates else list(self.checks)
        whens = " ".join(f"when {condition} then {reason}" for condition, reason in checks)
        return f"select {self.columns}, case {whens} end as reason {self._from(duplicates)}"

    def good(self, *, duplicates: bool) -> str:
        """The good lines alone (those `reasons` gives no reason), with their kept columns.

        `is not true`: a CASE skips a condition that is null, so a line is good when no condition is true.
        """
        checks = [*self.checks, DUPLICATE] if duplicates else list(self.checks)
        failed = " or ".join(f"({condition})" for condition, _ in checks)
        return f"select {self.columns} {self._from(duplicates)} where ({failed}) is not true"


def _party_checked() -> Checked:
    return Checked(_kept(2), (
        *_fields(2),
        (f"{_f(1)} !~ '^[0-9A-Za-z-]{{1,20}}$'", "format('tax_id must be 1 to 20 letters or digits: %s', p.f1)"),
        (f"{_f(2)} = ''", "'name is empty'"),
        (f"length({_f(2)}) > 200", "'name is longer than 200 characters'"),
    ))


# The columns a file fills and the value of each, read from `etl_checked` (the table's other columns
# take their defaults).
PARTY_VALUES = (("tax_id", "v1"), ("name", "v2"))


PARTY_CONFLICT = """
    on conflict (tax_id) do update set name = excluded.name, updated_at = now()
        where t.name is distinct from excluded.name"""


OPERATIONS_CHECKED = Checked(f"{_kept(11)}, c.id as client_id, d.id as debtor_id", (
    *_fields(11),
    (f"{_f(1)} = '' or length({_f(1)}) > 40", "format('code must have 1 to 40 characters: %s', p.f1)"),
    ("c.id is null", "format('unknown client %s', p.f2)"),
    ("d.id is null", "format('unknown debtor %s', p.f3)"),
    (f"upper({_f(4)}) not in ('PEN', 'USD')", "format('currency must be PEN or USD: %s', p.f4)"),
    *_number(5, "face_value", "numeric(18,2)"),
    (f"{_f(5)} <= 0", "format('face_value must be positive: %s', p.v5)"),
    *_number(6, "advance_pct", "numeric(5,2)"),
    (f"{_f(6)} <= 0 or {_f(6)} > 100", "format('advance_pct must be in (0, 100]: %s', p.v6)"),
    *_number(7, "monthly_rate", "numeric(8,6)"),
    (f"{_f(7)} < 0", "format('monthly_rate must not be negative: %s', p.v7)"),
    *_number(8, "commission", "numeric(18,2)"),
    (f"{_f(8)} < 0", "format('commission must not be negative: %s', p.v8)"),
    *_date(9, "disbursed_on"),
    *_date(10, "due_on"),
    (f"{_f(10)} < {_f(9)}", "format('due_on %s is before disbursed_on %s', p.v10, p.v9)"),
    (f"lower({_f(11)}) not in ('active', 'paid', 'defaulted', 'cancelled')",
     "format('status must be active, paid, defaulted or cancelled: %s', p.f11)"),
), f"""left join clients c on c.tax_id = {_f(2)}
    left join debtors d on d.tax_id = {_f(3)}""")

OPERATIONS_VALUES = (("code", "v1"), ("client_id", "client_id"), ("debtor_id", "debtor_id"), ("currency", "upper(v4)"),
                     ("face_value", "v5"), ("advance_pct", "v6"), ("monthly_rate", "v7"), ("commission", "v8"),
                     ("disbursed_on", "v9"), ("due_on", "v10"), ("status", "lower(v11)"))

OPERATIONS_CONFLICT = """
    on conflict (code) do update
        set client_id = excluded.client_id, debtor_id = excluded.debtor_id, currency = excluded.currency,
            face_value = excluded.face_value, advance_pct = excluded.advance_pct,
            monthly_rate = excluded.monthly_rate, commission = excluded.commission,
            disbursed_on = excluded.disbursed_on, due_on = excluded.due_on, status = excluded.status,
            updated_at = now()
        where (t.client_id, t.debtor_id, t.currency, t.face_value, t.advance_pct, t.monthly_rate, t.commission,
               t.disbursed_on, t.due_on, t.status)
              is distinct from
              (excluded.client_id, excluded.debtor_id, excluded.currency, excluded.face_value, excluded.advance_pct,
               excluded.monthly_rate, excluded.commission, excluded.disbursed_on, excluded.due_on, excluded.status)"""

PAYMENTS_CHECKED = Checked(f"{_kept(4)}, o.id as operation_id", (
    *_fields(4),
    (f"{_f(1)} = '' or length({_f(1)}) > 40", "format('code must have 1 to 40 characters: %s', p.f1)"),
    ("o.id is null", "format('unknown operation %s', p.f2)"),
    *_date(3, "paid_on"),
    (f"{_f(3)} < o.disbursed_on", "format('paid_on %s is before the disbursement on %s', p.v3, o.disbursed_on)"),
    *_number(4, "amount", "numeric(18,2)"),
    (f"{_f(4)} <= 0", "format('amount must be positive: %s', p.v4)"),
), f"left join operations o on o.code = {_f(2)}")

PAYMENTS_VALUES = (("code", "v1"), ("operation_id", "operation_id"), ("paid_on", "v3"), ("amount", "v4"))

PAYMENTS_CONFLICT = """
    on conflict (code) do update
        set operation_id = excluded.operation_id, paid_on = excluded.paid_on, amount = excluded.amount,
            updated_at = now()
        where (t.operation_id, t.paid_on, t.amount) is distinct from
              (excluded.operation_id, excluded.paid_on, excluded.amount)"""


@dataclass(frozen=True, slots=True)
class CsvFile:
    """One extract of a batch: its columns (the header line), its checks, the table columns it fills
    with their values (read from `etl_checked`) and its conflict clause.

    `types` gives the number and date columns their type (by column name); the others are text.
    """

    name: str
    columns: tuple[str, ...]
    checked: Checked
    values: tuple[tuple[str, str], ...]
    on_conflict: str
    types: dict[str, str] = field(default_factory=dict)

    @property
    def insert(self) -> str:
        """The insert of the good lines (`etl_checked`) into the table."""
        return (f"insert into {self.name} as t ({', '.join(c for c, _ in self.values)}) "
                f"select {', '.join(v for _, v in self.values)} from etl_checked")

    def checks(self, *, duplicates: bool) -> str:
        """The checking select (every line and its reason); without `duplicates`, one that does not
        look for repeated keys (see `services.factoring.etl`: a first load tries that first)."""
        return self.checked.reasons(duplicates=duplicates)

    def good(self, *, duplicates: bool) -> str:
        """The select of the good lines alone, which `insert` and `upsert` read as `etl_checked`."""
        return self.checked.good(duplicates=duplicates)

    def type_of(self, index: int) -> str:
        """The type of column `index` (1-based): 'text', 'date' or a numeric type such as 'numeric(18,2)'."""
        return self.types.get(self.columns[index - 1], "text")

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def upsert(self) -> str:
        """The insert with its conflict clause, returning (xmax = 0) to tell inserted from updated rows."""
        return f"{self.insert} {self.on_conflict} returning (xmax = 0) as inserted"


# In load order: a line may refer to rows of the files before it.
CSV_FILES: tuple[CsvFile, ...] = (
    CsvFile("clients", ("tax_id", "name"), _party_checked(), PARTY_VALUES, PARTY_CONFLICT),
    CsvFile("debtors", ("tax_id", "name"), _party_checked(), PARTY_VALUES, PARTY_CONFLICT),
    CsvFile("operations", ("code", "client_tax_id", "debtor_tax_id", "currency", "face_value", "advance_pct",
                           "monthly_rate", "commission", "disbursed_on", "due_on", "status"),
            OPERATIONS_CHECKED, OPERATIONS_VALUES, OPERATIONS_CONFLICT,
            {"face_value": "numeric(18,2)", "advance_pct": "numeric(5,2)", "monthly_rate": "numeric(8,6)",
             "commission": "numeric(18,2)", "disbursed_on": "date", "due_on": "date"}),
    CsvFile("payments", ("code", "operation_code", "paid_on", "amount"),
            PAYMENTS_CHECKED, PAYMENTS_VALUES, PAYMENTS_CONFLICT, {"paid_on": "date", "amount": "numeric(18,2)"}),
)
