"""Per-file SQL of the CSV loads: the checks that give a line its reject reason, and the upsert.

Each `CHECKED` select reads `parsed(line_number, raw, f text[])` and yields one row per line with
`reason` null for a good line; the first failing check names the reason. Checks mirror the
tables' constraints, so a good line never makes the upsert fail.
"""

from __future__ import annotations

from dataclasses import dataclass


def _f(i: int) -> str:
    return f"btrim(p.f[{i}])"


def _number(i: int, name: str, kind: str) -> str:
    v = _f(i)
    return (f"when {v} !~ '^[+-]?[0-9]+(\\.[0-9]+)?$' or not pg_input_is_valid({v}, '{kind}') "
            f"then format('{name} is not a number of type {kind}: %s', p.f[{i}])")


def _date(i: int, name: str) -> str:
    v = _f(i)
    return (f"when {v} !~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$' or not pg_input_is_valid({v}, 'date') "
            f"then format('{name} is not a date (YYYY-MM-DD): %s', p.f[{i}])")


def _fields(n: int) -> str:
    return f"when cardinality(p.f) <> {n} then format('expected {n} fields, found %s', cardinality(p.f))"


def _duplicate(key: str) -> str:
    return (f"when p.line_number <> min(p.line_number) over (partition by {key}) "
            f"then format('duplicate of line %s', min(p.line_number) over (partition by {key}))")


def _party_checked() -> str:
    return f"""
        select p.line_number, p.raw, p.f, case
            {_fields(2)}
            when {_f(1)} !~ '^[0-9A-Za-z-]{{1,20}}$' then format('tax_id must be 1 to 20 letters or digits: %s', p.f[1])
            when {_f(2)} = '' then 'name is empty'
            when length({_f(2)}) > 200 then 'name is longer than 200 characters'
            {_duplicate(_f(1))}
        end as reason
        from parsed p"""


def _party_upsert(table: str) -> str:
    return f"""
        insert into {table} as t (tax_id, name)
        select btrim(f[1]), btrim(f[2]) from etl_checked where reason is null
        on conflict (tax_id) do update set name = excluded.name, updated_at = now()
            where t.name is distinct from excluded.name
        returning (xmax = 0) as inserted"""


OPERATIONS_CHECKED = f"""
    select p.line_number, p.raw, p.f, c.id as client_id, d.id as debtor_id, case
        {_fields(11)}
        when {_f(1)} = '' or length({_f(1)}) > 40 then format('code must have 1 to 40 characters: %s', p.f[1])
        when c.id is null then format('unknown client %s', p.f[2])
        when d.id is null then format('unknown debtor %s', p.f[3])
        when upper({_f(4)}) not in ('PEN', 'USD') then format('currency must be PEN or USD: %s', p.f[4])
        {_number(5, 'face_value', 'numeric(18,2)')}
        when cast({_f(5)} as numeric) <= 0 then format('face_value must be positive: %s', p.f[5])
        {_number(6, 'advance_pct', 'numeric(5,2)')}
        when cast({_f(6)} as numeric) <= 0 or cast({_f(6)} as numeric) > 100
            then format('advance_pct must be in (0, 100]: %s', p.f[6])
        {_number(7, 'monthly_rate', 'numeric(8,6)')}
        when cast({_f(7)} as numeric) < 0 then format('monthly_rate must not be negative: %s', p.f[7])
        {_number(8, 'commission', 'numeric(18,2)')}
        when cast({_f(8)} as numeric) < 0 then format('commission must not be negative: %s', p.f[8])
        {_date(9, 'disbursed_on')}
        {_date(10, 'due_on')}
        when cast({_f(10)} as date) < cast({_f(9)} as date)
            then format('due_on %s is before disbursed_on %s', p.f[10], p.f[9])
        when lower({_f(11)}) not in ('active', 'paid', 'defaulted', 'cancelled')
            then format('status must be active, paid, defaulted or cancelled: %s', p.f[11])
        {_duplicate(_f(1))}
    end as reason
    from parsed p
    left join clients c on c.tax_id = {_f(2)}
    left join debtors d on d.tax_id = {_f(3)}"""

OPERATIONS_UPSERT = """
    insert into operations as t (code, client_id, debtor_id, currency, face_value, advance_pct, monthly_rate,
                                 commission, disbursed_on, due_on, status)
    select btrim(f[1]), client_id, debtor_id, upper(btrim(f[4])), cast(btrim(f[5]) as numeric(18,2)),
           cast(btrim(f[6]) as numeric(5,2)), cast(btrim(f[7]) as numeric(8,6)), cast(btrim(f[8]) as numeric(18,2)),
           cast(btrim(f[9]) as date), cast(btrim(f[10]) as date), lower(btrim(f[11]))
    from etl_checked where reason is null
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
               excluded.monthly_rate, excluded.commission, excluded.disbursed_on, excluded.due_on, excluded.status)
    returning (xmax = 0) as inserted"""

PAYMENTS_CHECKED = f"""
    select p.line_number, p.raw, p.f, o.id as operation_id, case
        {_fields(4)}
        when {_f(1)} = '' or length({_f(1)}) > 40 then format('code must have 1 to 40 characters: %s', p.f[1])
        when o.id is null then format('unknown operation %s', p.f[2])
        {_date(3, 'paid_on')}
        when cast({_f(3)} as date) < o.disbursed_on
            then format('paid_on %s is before the disbursement on %s', p.f[3], o.disbursed_on)
        {_number(4, 'amount', 'numeric(18,2)')}
        when cast({_f(4)} as numeric) <= 0 then format('amount must be positive: %s', p.f[4])
        {_duplicate(_f(1))}
    end as reason
    from parsed p
    left join operations o on o.code = {_f(2)}"""

PAYMENTS_UPSERT = """
    insert into payments as t (code, operation_id, paid_on, amount)
    select btrim(f[1]), operation_id, cast(btrim(f[3]) as date), cast(btrim(f[4]) as numeric(18,2))
    from etl_checked where reason is null
    on conflict (code) do update
        set operation_id = excluded.operation_id, paid_on = excluded.paid_on, amount = excluded.amount,
            updated_at = now()
        where (t.operation_id, t.paid_on, t.amount) is distinct from
              (excluded.operation_id, excluded.paid_on, excluded.amount)
    returning (xmax = 0) as inserted"""


@dataclass(frozen=True, slots=True)
class CsvFile:
    """One extract of a batch: its columns (the header line), its checks and its upsert."""

    name: str
    columns: tuple[str, ...]
    checked: str
    upsert: str

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


# In load order: a line may refer to rows of the files before it.
CSV_FILES: tuple[CsvFile, ...] = (
    CsvFile("clients", ("tax_id", "name"), _party_checked(), _party_upsert("clients")),
    CsvFile("debtors", ("tax_id", "name"), _party_checked(), _party_upsert("debtors")),
    CsvFile("operations", ("code", "client_tax_id", "debtor_tax_id", "currency", "face_value", "advance_pct",
                           "monthly_rate", "commission", "disbursed_on", "due_on", "status"),
            OPERATIONS_CHECKED, OPERATIONS_UPSERT),
    CsvFile("payments", ("code", "operation_code", "paid_on", "amount"), PAYMENTS_CHECKED, PAYMENTS_UPSERT),
)
