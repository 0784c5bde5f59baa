"""SQL of the receivables snapshot (`receivables`, `receivables_by_debtor`, `receivables_by_client`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from sqlalchemy import text

from repositories.factoring_sql import RebuildRepository, by_id_ranges, money, pen_cents


class Bucket(Protocol):
    """What the SQL needs of an aging bucket (services.factoring.rules.AgingBucket), read-only."""

    @property
    def label(self) -> str: ...

    @property
    def max_days(self) -> int | None: ...

    @property
    def column(self) -> str: ...


def _bucket_case(buckets: Sequence[Bucket], days: str, params: dict[str, Any]) -> str:
    whens = []
    for i, bucket in enumerate(buckets):
        params[f"bucket_{i}"] = bucket.label
        if bucket.max_days is None:
            whens.append(f"else :bucket_{i}")
            break
        params[f"bucket_{i}_max"] = bucket.max_days
        whens.append(f"when {days} <= :bucket_{i}_max then :bucket_{i}")
    return "case " + " ".join(whens) + " end"


# The columns of receivables, in the order of the rebuild's select.
DETAIL_COLUMNS = ("operation_id", "as_of", "code", "client_id", "debtor_id", "currency", "face_value", "paid_total",
                  "outstanding", "outstanding_pen", "due_on", "days_past_due", "bucket")


class ReceivablesRepository(RebuildRepository):
    """Replaces the receivables snapshot and its two summaries."""

    async def usd_needed(self, as_of: date, excluded: str) -> date | None:
        """`as_of` when a counted USD operation is disbursed by then (its balance is converted at as_of)."""
        found = (await self.session.execute(text(
            "select exists (select 1 from operations where currency = 'USD' and status <> :excluded "
            "and disbursed_on <= :as_of)"), {"as_of": as_of, "excluded": excluded})).scalar_one()
        return as_of if found else None

    TABLES = ("receivables", "receivables_by_debtor", "receivables_by_client")

    async def start_builds(self) -> dict[str, str]:
        """The build copies' names, by table name: empty copies of both summaries (see `start_build`);
        the detail's copy is created with its rows by `build_detail`."""
        builds = {"receivables": await self._build_name("receivables")}
        for table in self.TABLES[1:]:
            builds[table] = await self.start_build(table)
        return builds

    async def swap_all_in(self) -> None:
        """Replace the three tables with their build copies, at the end of the transaction (see `swap_in`)."""
        for table in self.TABLES:
            await self.swap_in(table)

    async def build_detail(self, as_of: date, *, excluded: str, buckets: Sequence[Bucket]) -> int:
        """Create the detail's build copy (see `create_build_as`) with one row per counted operation disbursed
        by `as_of` with a positive balance at `as_of`; the row count."""
        # The rate of `as_of` (null when there is none: then no USD balance needs it, see `usd_needed`),
        # read first and passed as a value: a subquery in each branch would be an InitPlan, which keeps
        # the branches from running in parallel workers.
        sell = (await self.session.execute(text(
            "select sell from exchange_rates where rate_date <= :as_of order by rate_date desc limit 1"),
            {"as_of": as_of})).scalar_one_or_none()
        params: dict[str, Any] = {"as_of": as_of, "excluded": excluded, "sell": sell}
        # days past due: 0 for an operation not yet due (README, factoring rules)
        days = "greatest(cast(:as_of as date) - o.due_on, 0)"
        bucket = _bucket_case(buckets, days, params)
        select = by_id_ranges(f"""
            with paid as (select operation_id, sum(amount) as total from payments
                          where paid_on <= :as_of and operation_id between :id_lo and :id_hi group by operation_id)
            select o.id, cast(:as_of as date), o.code, o.client_id, o.debtor_id, o.currency, o.face_value,
                   coalesce({money('p.total')}, {money('0')}), {money('o.face_value - coalesce(p.total, 0)')},
                   {pen_cents('o.face_value - coalesce(p.total, 0)', 'o.currency', 'cast(:sell as numeric)')},
                   o.due_on, {days}, {bucket}
            from operations o
            left join paid p on p.operation_id = o.id
            -- a positive balance: compared, not subtracted, for the rows left out
            where o.status <> :excluded and o.disbursed_on <= :as_of and coalesce(p.total, 0) < o.face_value
              and o.id between :id_lo and :id_hi""", await self.id_ranges(), params)
        return await self.create_build_as("receivables", DETAIL_COLUMNS, select, params)

    async def insert_summaries(self, builds: dict[str, str], as_of: date, *, buckets: Sequence[Bucket]
                               ) -> dict[str, Any]:
        """Into the summaries' build copies, from the detail's (`builds`, see `start_builds`): per debtor and
        per client, sums of the detail rows' PEN balances, in total and per bucket; returns the
        snapshot's totals (operations and PEN balance per bucket, summary row counts).

        One row per debtor and one per client, with each bucket's count and sum, come from two GROUP BYs
        of the detail in one UNION ALL, which PostgreSQL runs side by side, one in a parallel worker (a
        Parallel Append): grouping sets, which read the detail and compute each row's cents once, have
        no parallel plan and took longer in one process (one 1M server, in psql: 0.64-0.66 s against
        0.47-0.50 s). A row per party, pivoted as it is summed, rather than one per party and bucket
        pivoted after: the same work per detail row, a quarter of the rows to write and nothing left
        to group (one 1M server, alternated: these statements 0.26 s against 0.35 s, the whole task a
        median of 1.38 s against 1.46 s over 9 rounds). The summary rows join the names to those rows;
        the totals sum the debtor rows.
        """
        params: dict[str, Any] = {"as_of": as_of}
        columns = ", ".join(b.column for b in buckets)
        # sums in cents (bigint: exact for cents, and cheaper to add up than numeric), back to PEN at the
        # end. A bigint holds 92 quadrillion PEN in cents per party.
        cents = "cast(r.outstanding_pen * 100 as bigint)"
        per_bucket = []
        for i, bucket in enumerate(buckets):
            params[f"label_{i}"] = bucket.label
            per_bucket.append(f"count(*) filter (where r.bucket = :label_{i}) as n{i}, "
                              f"coalesce(cast(sum({cents}) filter (where r.bucket = :label_{i}) as bigint), 0) as c{i}")
        per_party = f"count(*) as n, {', '.join(per_bucket)}"
        # the parties (~25k from ~1M rows) are hashed: more than the rebuild's 4 MB (see `tune`)
        await self.session.execute(text("set local work_mem = '64MB'"))
        await self.session.execute(text("drop table if exists receivables_groups"))
        detail = builds["receivables"]
        await self.session.execute(text(
            "create temp table receivables_groups on commit drop as "
            f"select true as by_debtor, r.debtor_id as party_id, {per_party} from {detail} r group by r.debtor_id "
            f"union all select false, r.client_id, {per_party} from {detail} r group by r.client_id"), params)
        total = " + ".join(f"g.c{i}" for i in range(len(buckets)))
        counts: dict[str, int] = {}
        for table, key, parties, by_debtor in (("receivables_by_debtor", "debtor_id", "debtors", True),
                                               ("receivables_by_client", "client_id", "clients", False)):
            result = await self.session.execute(text(f"""
                insert into {builds[table]} ({key}, as_of, name, operations, outstanding_pen, {columns})
                select g.party_id, :as_of, x.name, g.n, ({total}) * 0.01,
                       {", ".join(f"g.c{i} * 0.01" for i in range(len(buckets)))}
                from receivables_groups g join {parties} x on x.id = g.party_id
                where g.by_debtor = :by_debtor"""), {"as_of": as_of, "by_debtor": by_debtor})
            counts[key] = int(result.rowcount or 0)  # type: ignore[attr-defined]
        sums = (await self.session.execute(text(
            "select " + ", ".join(f"sum(n{i})::bigint, sum(c{i}) * 0.01" for i in range(len(buckets)))
            + " from receivables_groups where by_debtor"))).one()
        # the buckets that hold operations, in the order of their labels
        found = {b.label: {"operations": sums[2 * i], "outstanding_pen": sums[2 * i + 1]}
                 for i, b in enumerate(buckets) if sums[2 * i]}
        return {"buckets": dict(sorted(found.items())),
                "debtors": counts["debtor_id"], "clients": counts["client_id"]}
