"""Per-file SQL of the CSV loads: the checks that give a line its reject reason, and the upsert.

Each `CHECKED` select reads `parsed(line_number, raw, f1 .. fN, v1 .. vN, nf)` and yields one row
per line with `reason` null for a good line; the first failing check names the reason. `f` is the
field as written, `v` its value: trimmed text, or for a number or date column the typed value,
null when the field is not one (see `EtlRepository.check`). A reason quotes the field as written
when it is no value of its type, and the value as it would be stored (`-5.00`) when it is out of range. Checks mirror the tables'
constraints, so a good line never makes the insert fail. Duplicates are found with one hash
aggregate over the keys (no sort of the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _f(i: int) -> str:
    return f"p.v{i}"


def _number(i: int, name: str, kind: str) -> str:
    # NaN is a numeric PostgreSQL reads (and sorts above every number), never an amount
    return f"when {_f(i)} is null or {_f(i)} = 'NaN' then format('{name} is not a number of type {kind}: %s', p.f{i})"


# Extract dates outside these years are typos, not history: the rebuilds convert, age and
# calendar every stored date, and nothing between them can overflow or make a calendar of
# millions of days (README, the factoring rules).
FIRST_DATE = "1900-01-01"
LAST_DATE = "2199-12-31"


def _date(i: int, name: str) -> str:
    return (f"when {_f(i)} is null then format('{name} is not a date (YYYY-MM-DD): %s', p.f{i}) "
            f"when {_f(i)} < date '{FIRST_DATE}' or {_f(i)} > date '{LAST_DATE}' "
            f"then format('{name} must be between {FIRST_DATE} and {LAST_DATE}: %s', p.f{i})")


def _kept(n: int) -> str:
    return "p.line_number, p.raw, " + ", ".join(f"p.v{i}" for i in range(1, n + 1))


def _fields(n: int) -> str:
    return f"when p.nf <> {n} then format('expected {n} fields, found %s', p.nf)"


# The first line of each key that occurs more than once; the later ones are rejected.
DUPLICATES = """left join (select v1 as key, min(line_number) as first_line from parsed
                   group by 1 having count(*) > 1) as dup on dup.key = p.v1"""
DUPLICATE = ("when dup.first_line is not null and p.line_number <> dup.first_line "
             "then format('duplicate of line %s', dup.first_line)")


def _party_checked() -> str:
    return f"""
        select {_kept(2)}, case
            {_fields(2)}
            when {_f(1)} !~ '^[0-9A-Za-z-]{{1,20}}$' then format('tax_id must be 1 to 20 letters or digits: %s', p.f1)
            when {_f(2)} = '' then 'name is empty'
            when length({_f(2)}) > 200 then 'name is longer than 200 characters'
            {DUPLICATE}
        end as reason
        from parsed p
        {DUPLICATES}"""


def _party_insert(table: str) -> str:
    return f"insert into {table} as t (tax_id, name) select v1, v2 from etl_checked where reason is null"


PARTY_CONFLICT = """
    on conflict (tax_id) do update set name = excluded.name, updated_at = now()
        where t.name is distinct from excluded.name"""


OPERATIONS_CHECKED = f"""
    select {_kept(11)}, c.id as client_id, d.id as debtor_id, case
        {_fields(11)}
        when {_f(1)} = '' or length({_f(1)}) > 40 then format('code must have 1 to 40 characters: %s', p.f1)
        when c.id is null then format('unknown client %s', p.f2)
        when d.id is null then format('unknown debtor %s', p.f3)
        when upper({_f(4)}) not in ('PEN', 'USD') then format('currency must be PEN or USD: %s', p.f4)
        {_number(5, 'face_value', 'numeric(18,2)')}
        when {_f(5)} <= 0 then format('face_value must be positive: %s', p.v5)
        {_number(6, 'advance_pct', 'numeric(5,2)')}
        when {_f(6)} <= 0 or {_f(6)} > 100
            then format('advance_pct must be in (0, 100]: %s', p.v6)
        {_number(7, 'monthly_rate', 'numeric(8,6)')}
        when {_f(7)} < 0 then format('monthly_rate must not be negative: %s', p.v7)
        {_number(8, 'commission', 'numeric(18,2)')}
        when {_f(8)} < 0 then format('commission must not be negative: %s', p.v8)
        {_date(9, 'disbursed_on')}
        {_date(10, 'due_on')}
        when {_f(10)} < {_f(9)}
            then format('due_on %s is before disbursed_on %s', p.v10, p.v9)
        when lower({_f(11)}) not in ('active', 'paid', 'defaulted', 'cancelled')
            then format('status must be active, paid, defaulted or cancelled: %s', p.f11)
        {DUPLICATE}
    end as reason
    from parsed p
    {DUPLICATES}
    left join clients c on c.tax_id = {_f(2)}
    left join debtors d on d.tax_id = {_f(3)}"""

OPERATIONS_INSERT = """
    insert into operations as t (code, client_id, debtor_id, currency, face_value, advance_pct, monthly_rate,
                                 commission, disbursed_on, due_on, status)
    select v1, client_id, debtor_id, upper(v4), v5, v6, v7, v8, v9, v10, lower(v11)
    from etl_checked where reason is null"""

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

PAYMENTS_CHECKED = f"""
    select {_kept(4)}, o.id as operation_id, case
        {_fields(4)}
        when {_f(1)} = '' or length({_f(1)}) > 40 then format('code must have 1 to 40 characters: %s', p.f1)
        when o.id is null then format('unknown operation %s', p.f2)
        {_date(3, 'paid_on')}
        when {_f(3)} < o.disbursed_on
            then format('paid_on %s is before the disbursement on %s', p.v3, o.disbursed_on)
        {_number(4, 'amount', 'numeric(18,2)')}
        when {_f(4)} <= 0 then format('amount must be positive: %s', p.v4)
        {DUPLICATE}
    end as reason
    from parsed p
    {DUPLICATES}
    left join operations o on o.code = {_f(2)}"""

PAYMENTS_INSERT = """
    insert into payments as t (code, operation_id, paid_on, amount)
    select v1, operation_id, v3, v4
    from etl_checked where reason is null"""

PAYMENTS_CONFLICT = """
    on conflict (code) do update
        set operation_id = excluded.operation_id, paid_on = excluded.paid_on, amount = excluded.amount,
            updated_at = now()
        where (t.operation_id, t.paid_on, t.amount) is distinct from
              (excluded.operation_id, excluded.paid_on, excluded.amount)"""


@dataclass(frozen=True, slots=True)
class CsvFile:
    """One extract of a batch: its columns (the header line), its checks, its insert and conflict clause.

    `types` gives the number and date columns their type (by column name); the others are text.
    """

    name: str
    columns: tuple[str, ...]
    checked: str
    insert: str
    on_conflict: str
    types: dict[str, str] = field(default_factory=dict)

    def checks(self, *, duplicates: bool) -> str:
        """The checking select; without `duplicates`, one that does not look for repeated keys
        (see `services.factoring.etl`: a load tries that first)."""
        return self.checked if duplicates else self.checked.replace(DUPLICATES, "").replace(DUPLICATE, "")

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
    CsvFile("clients", ("tax_id", "name"), _party_checked(), _party_insert("clients"), PARTY_CONFLICT),
    CsvFile("debtors", ("tax_id", "name"), _party_checked(), _party_insert("debtors"), PARTY_CONFLICT),
    CsvFile("operations", ("code", "client_tax_id", "debtor_tax_id", "currency", "face_value", "advance_pct",
                           "monthly_rate", "commission", "disbursed_on", "due_on", "status"),
            OPERATIONS_CHECKED, OPERATIONS_INSERT, OPERATIONS_CONFLICT,
            {"face_value": "numeric(18,2)", "advance_pct": "numeric(5,2)", "monthly_rate": "numeric(8,6)",
             "commission": "numeric(18,2)", "disbursed_on": "date", "due_on": "date"}),
    CsvFile("payments", ("code", "operation_code", "paid_on", "amount"),
            PAYMENTS_CHECKED, PAYMENTS_INSERT, PAYMENTS_CONFLICT, {"paid_on": "date", "amount": "numeric(18,2)"}),
)
