"""Numbered, idempotent migrations of the warehouse schema.

The raw tables' columns derive from the event contract (:mod:`schemas.events`). Each migration runs once,
inside a transaction, and is recorded in ``schema_migrations``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import duckdb

from schemas.events import FAMILIES, Family, duckdb_columns
from warehouse import offsets
from warehouse.lake import CommitConflict, transaction

log = logging.getLogger(__name__)


def raw_table(family: Family) -> str:
    """Name of the raw table of a topic family (typed, validated, deduplicated events as received)."""
    return f"raw_{family}_events"


def _raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    for family in FAMILIES:
        columns = ",\n    ".join(f'"{name}" {sql_type}' for name, sql_type in duckdb_columns(family))
        # A lake table has no keys: the loader keeps (event_id, UTC day of event_time) unique (docs/ingest.md).
        con.execute(f"CREATE TABLE {raw_table(family)} (\n    {columns}\n)")


def _ledger_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE quarantine (
            kafka_topic VARCHAR NOT NULL,
            kafka_partition INTEGER NOT NULL,
            kafka_offset BIGINT NOT NULL,
            kafka_timestamp TIMESTAMPTZ,
            raw_value BLOB,
            raw_text VARCHAR,
            reason VARCHAR NOT NULL,
            field VARCHAR,
            event_id VARCHAR,
            event_type VARCHAR  -- key: (kafka_topic, kafka_partition, kafka_offset)
        )
        """
    )
    # The next offset to read per partition, written in the same transaction as the rows it covers.
    con.execute(
        """
        CREATE TABLE ingest_offsets (
            topic VARCHAR NOT NULL,
            "partition" INTEGER NOT NULL,
            next_offset BIGINT NOT NULL  -- key: (topic, "partition")
        )
        """
    )
    # One row per committed micro-batch: what it read and what became of it. Totals over this table are
    # the data-quality counts of the reports (they do not depend on how messages were cut into batches).
    con.execute(
        """
        CREATE TABLE ingest_batches (
            batch_id VARCHAR NOT NULL,  -- key
            started_at TIMESTAMPTZ NOT NULL,
            committed_at TIMESTAMPTZ NOT NULL,
            messages BIGINT NOT NULL,
            loaded BIGINT NOT NULL,
            duplicates BIGINT NOT NULL,
            quarantined BIGINT NOT NULL,
            unknown_fields BIGINT NOT NULL,
            max_event_time TIMESTAMPTZ
        )
        """
    )


MIGRATIONS: list[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
    (1, "raw tables, one per topic family", _raw_tables),
    (2, "quarantine, offsets and batch ledger", _ledger_tables),
]


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations this warehouse lacks. Returns the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER NOT NULL, description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, description, step in MIGRATIONS:
        if version in done:
            continue
        with transaction(con):
            if con.execute("SELECT count(*) FROM schema_migrations WHERE version = ?", [version]).fetchone() != (0,):
                continue  # another writer applied it meanwhile
            try:
                step(con)
            except duckdb.CatalogException as exc:
                if "already exists" not in str(exc):
                    raise
                # Another writer is applying the same migration at this moment: ours is rolled back and
                # the caller's retry finds it recorded.
                raise CommitConflict(f"migration {version} applied by another writer at the same moment") from exc
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, description])
        log.debug("warehouse migration %d applied: %s", version, description)
        applied.append(version)
    return applied


# ---------------------------------------------------------------------------------------------------------
# Migration 3: staging views, facts, daily marts, build bookkeeping and analyst views (docs/marts.md).
# Lake tables carry no PRIMARY KEY (DuckLake has none): each table's key is documented here and in
# docs/marts.md, kept by the code that writes the table, and checked by tests and the quality gate.
# The mart DDL below is history: it gives a new warehouse its first, empty marts, which the first build
# recreates from the registry (schemas/marts.py, migration 11). Edit the registry, never this.
# ---------------------------------------------------------------------------------------------------------

# Unit conversions the staging views add beside the contract's integer fields.
_STG_UNITS = {
    "cost_micros": "cost_micros / 1000000.0 AS cost",  # micros -> currency units
    "amount_cents": "amount_cents / 100.0 AS amount",  # cents -> currency units
}

_MART_DDL = (
    # key: session_id. One row per session, stored on the local day of its start (start_day).
    """
    CREATE TABLE fct_sessions (
        session_id VARCHAR NOT NULL,
        start_day DATE NOT NULL,
        user_id VARCHAR,
        stream_id VARCHAR,
        channel_id VARCHAR,
        category VARCHAR NOT NULL,
        source VARCHAR,
        campaign_id VARCHAR,
        device VARCHAR,
        country VARCHAR,
        started_at TIMESTAMPTZ NOT NULL,
        ended_at TIMESTAMPTZ NOT NULL,
        length_seconds DOUBLE NOT NULL,
        has_start BOOLEAN NOT NULL,
        has_end BOOLEAN NOT NULL,
        end_reason VARCHAR,
        capped BOOLEAN NOT NULL
    )
    """,
    # key: (day, session_id). Watch time of each session on each local day it overlaps.
    """
    CREATE TABLE fct_session_days (
        day DATE NOT NULL,
        session_id VARCHAR NOT NULL,
        user_id VARCHAR,
        stream_id VARCHAR,
        channel_id VARCHAR,
        category VARCHAR NOT NULL,
        watch_seconds DOUBLE NOT NULL
    )
    """,
    # key: (day, minute). Platform-wide concurrent sessions at every minute mark of the day.
    """
    CREATE TABLE fct_minute_concurrency (
        day DATE NOT NULL,
        minute TIMESTAMPTZ NOT NULL,
        concurrent BIGINT NOT NULL
    )
    """,
    # key: day. Every daily headline figure of docs/metrics.md's summary.json, plus headline retention.
    """
    CREATE TABLE agg_daily_headline (
        day DATE NOT NULL,
        dau BIGINT NOT NULL,
        wau BIGINT NOT NULL,
        mau BIGINT NOT NULL,
        stickiness DOUBLE,
        new_users BIGINT NOT NULL,
        unique_viewers BIGINT NOT NULL,
        sessions BIGINT NOT NULL,
        hours_watched DOUBLE NOT NULL,
        pcu BIGINT NOT NULL,
        pcu_at TIMESTAMPTZ NOT NULL,
        acu DOUBLE NOT NULL,
        avg_watch_minutes DOUBLE,
        startup_p50_ms DOUBLE,
        startup_p95_ms DOUBLE,
        rebuffering_ratio DOUBLE,
        error_exit_rate DOUBLE,
        chat_messages BIGINT NOT NULL,
        chatters BIGINT NOT NULL,
        engagement_rate DOUBLE,
        likes BIGINT NOT NULL,
        shares BIGINT NOT NULL,
        follows BIGINT NOT NULL,
        unfollows BIGINT NOT NULL,
        net_follows BIGINT NOT NULL,
        gift_value_cents BIGINT NOT NULL,
        subscription_revenue_cents BIGINT NOT NULL,
        purchase_revenue_cents BIGINT NOT NULL,
        paying_users BIGINT NOT NULL,
        csat DOUBLE,
        nps DOUBLE,
        reports BIGINT NOT NULL,
        report_rate DOUBLE,
        hours_broadcast DOUBLE NOT NULL,
        streams_live BIGINT NOT NULL,
        active_channels BIGINT NOT NULL,
        impressions BIGINT NOT NULL,
        clicks BIGINT NOT NULL,
        ctr DOUBLE,
        spend DOUBLE NOT NULL,
        attributed_signups BIGINT NOT NULL,
        organic_signups BIGINT NOT NULL,
        attributed_revenue_cents BIGINT NOT NULL,
        retention_d1 DOUBLE,
        retention_d7 DOUBLE,
        retention_d30 DOUBLE
    )
    """,
    # key: (day, category).
    """
    CREATE TABLE agg_daily_category (
        day DATE NOT NULL,
        category VARCHAR NOT NULL,
        hours_broadcast DOUBLE NOT NULL,
        hours_watched DOUBLE NOT NULL,
        streams_live BIGINT NOT NULL,
        viewer_ratio DOUBLE
    )
    """,
    # key: (day, channel_id).
    """
    CREATE TABLE agg_daily_channel (
        day DATE NOT NULL,
        channel_id VARCHAR NOT NULL,
        hours_watched DOUBLE NOT NULL,
        broadcast_seconds DOUBLE NOT NULL,
        hours_broadcast DOUBLE NOT NULL,
        avg_viewers DOUBLE,
        peak_viewers BIGINT NOT NULL,
        follows BIGINT NOT NULL,
        unfollows BIGINT NOT NULL,
        net_follows BIGINT NOT NULL
    )
    """,
    # key: (day, stream_id).
    """
    CREATE TABLE agg_daily_stream (
        day DATE NOT NULL,
        stream_id VARCHAR NOT NULL,
        channel_id VARCHAR,
        hours_watched DOUBLE NOT NULL,
        broadcast_seconds DOUBLE NOT NULL,
        hours_broadcast DOUBLE NOT NULL,
        avg_viewers DOUBLE,
        peak_viewers BIGINT NOT NULL
    )
    """,
    # key: (day, campaign_id, channel).
    """
    CREATE TABLE agg_daily_campaign (
        day DATE NOT NULL,
        campaign_id VARCHAR NOT NULL,
        channel VARCHAR NOT NULL,
        impressions BIGINT NOT NULL,
        clicks BIGINT NOT NULL,
        ctr DOUBLE,
        spend DOUBLE NOT NULL,
        attributed_signups BIGINT NOT NULL,
        cvr DOUBLE,
        cpa DOUBLE,
        attributed_revenue_cents BIGINT NOT NULL,
        roas DOUBLE
    )
    """,
    # keys: (day, source), (day, device), (day, country); 'unknown' where the session has no value.
    """
    CREATE TABLE agg_daily_source (
        day DATE NOT NULL, source VARCHAR NOT NULL, sessions BIGINT NOT NULL, unique_viewers BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE agg_daily_device (
        day DATE NOT NULL, device VARCHAR NOT NULL, sessions BIGINT NOT NULL, unique_viewers BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE agg_daily_country (
        day DATE NOT NULL, country VARCHAR NOT NULL, sessions BIGINT NOT NULL, unique_viewers BIGINT NOT NULL
    )
    """,
    # key: (day, target).
    "CREATE TABLE agg_daily_shares_by_target (day DATE NOT NULL, target VARCHAR NOT NULL, shares BIGINT NOT NULL)",
    # key: (day, reason).
    "CREATE TABLE agg_daily_reports_by_reason (day DATE NOT NULL, reason VARCHAR NOT NULL, reports BIGINT NOT NULL)",
    # key: (as_of_day, cohort_date). The 31 cohorts as_of_day-30 .. as_of_day as the report of as_of_day sees them.
    """
    CREATE TABLE agg_retention_cohorts (
        as_of_day DATE NOT NULL,
        cohort_date DATE NOT NULL,
        days_since_cohort INTEGER NOT NULL,
        size BIGINT NOT NULL,
        d1 DOUBLE,
        d7 DOUBLE,
        d30 DOUBLE
    )
    """,
    # key: day. When each day was last built, with which watermark, and whether it was complete then.
    """
    CREATE TABLE build_days (
        day DATE NOT NULL,  -- key
        build_id VARCHAR NOT NULL,
        built_at TIMESTAMPTZ NOT NULL,
        watermark TIMESTAMPTZ NOT NULL,
        complete BOOLEAN NOT NULL,
        events BIGINT NOT NULL,
        late_events BIGINT NOT NULL
    )
    """,
    # key: (raw_table, kafka_topic, kafka_partition). The incremental bookmark: raw rows with a smaller offset
    # were covered by the last incremental or full build. '' / -1 stand for a null topic / partition.
    """
    CREATE TABLE build_state (
        raw_table VARCHAR NOT NULL,
        kafka_topic VARCHAR NOT NULL,
        kafka_partition INTEGER NOT NULL,
        next_offset BIGINT NOT NULL  -- key: (raw_table, kafka_topic, kafka_partition)
    )
    """,
    # key: build_id. One row per build run.
    """
    CREATE TABLE build_runs (
        build_id VARCHAR NOT NULL,  -- key
        mode VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ NOT NULL,
        first_day DATE,
        last_day DATE,
        days INTEGER NOT NULL,
        watermark TIMESTAMPTZ,
        timezone VARCHAR NOT NULL,
        allowed_lateness_seconds DOUBLE NOT NULL,
        moves_bookmark BOOLEAN NOT NULL
    )
    """,
)

# Analyst views: thin, stable column names (docs/marts.md is their data dictionary).
_ANALYST_VIEWS = (
    """
    CREATE VIEW v_daily_headline AS
    SELECT h.*, b.complete, b.watermark, b.late_events, b.built_at
    FROM agg_daily_headline h LEFT JOIN build_days b USING (day)
    """,
    """
    CREATE VIEW v_daily_categories AS
    SELECT day, category, hours_broadcast, hours_watched, streams_live, viewer_ratio,
           hours_watched / nullif(sum(hours_watched) OVER (PARTITION BY day), 0) AS share_of_hours_watched
    FROM agg_daily_category
    """,
    """
    CREATE VIEW v_daily_channels AS
    SELECT day, channel_id, hours_watched, hours_broadcast, avg_viewers, peak_viewers, follows, unfollows,
           net_follows, row_number() OVER (PARTITION BY day ORDER BY hours_watched DESC, channel_id) AS rank
    FROM agg_daily_channel
    """,
    """
    CREATE VIEW v_daily_streams AS
    SELECT day, stream_id, channel_id, hours_watched, hours_broadcast, avg_viewers, peak_viewers,
           row_number() OVER (PARTITION BY day ORDER BY hours_watched DESC, stream_id) AS rank
    FROM agg_daily_stream
    """,
    """
    CREATE VIEW v_campaigns AS
    SELECT day, campaign_id, channel, impressions, clicks, ctr, spend, attributed_signups, cvr, cpa,
           attributed_revenue_cents, attributed_revenue_cents / 100.0 AS attributed_revenue, roas
    FROM agg_daily_campaign
    """,
    """
    CREATE VIEW v_retention AS
    SELECT as_of_day, cohort_date, days_since_cohort, size, d1, d7, d30
    FROM agg_retention_cohorts WHERE days_since_cohort < 30
    """,
    "CREATE VIEW v_daily_sources AS SELECT day, source, sessions, unique_viewers FROM agg_daily_source",
    "CREATE VIEW v_daily_devices AS SELECT day, device, sessions, unique_viewers FROM agg_daily_device",
    "CREATE VIEW v_daily_countries AS SELECT day, country, sessions, unique_viewers FROM agg_daily_country",
    "CREATE VIEW v_daily_shares AS SELECT day, target, shares FROM agg_daily_shares_by_target",
    "CREATE VIEW v_daily_reports AS SELECT day, reason, reports FROM agg_daily_reports_by_reason",
    "CREATE VIEW v_minute_concurrency AS SELECT day, minute, concurrent FROM fct_minute_concurrency",
    """
    CREATE VIEW v_sessions AS
    SELECT session_id, start_day, user_id, stream_id, channel_id, category, source, campaign_id, device, country,
           started_at, ended_at, length_seconds / 60.0 AS length_minutes, has_start, has_end, end_reason, capped
    FROM fct_sessions
    """,
)


def _stg_view(family: Family) -> str:
    """``stg_<family>_events``: the contract's fields as loaded, arrival time, and unit-converted amounts."""
    from schemas.events import SOURCE_COLUMNS, polars_schema

    columns = [f'"{name}"' for name in polars_schema(family) if name not in SOURCE_COLUMNS]
    columns = [c if c != '"is_anonymous"' else 'coalesce("is_anonymous", false) AS "is_anonymous"' for c in columns]
    columns += [expr for name, expr in _STG_UNITS.items() if name in polars_schema(family)]
    columns.append('"kafka_timestamp" AS "arrived_at"')
    return f"CREATE VIEW stg_{family}_events AS SELECT {', '.join(columns)} FROM {raw_table(family)}"


def _marts(con: duckdb.DuckDBPyConnection) -> None:
    for family in FAMILIES:
        con.execute(_stg_view(family))
    for statement in (*_MART_DDL, *_ANALYST_VIEWS):
        con.execute(statement)


MIGRATIONS.append((3, "staging views, facts, daily marts, build state, analyst views", _marts))


# ---------------------------------------------------------------------------------------------------------
# Migration 4: the delivery log of daily reports (reports/delivery.py, docs/operations.md).
# ---------------------------------------------------------------------------------------------------------


def _deliveries(con: duckdb.DuckDBPyConnection) -> None:
    # key: (delivery_id, channel, attempt). One row per attempt to deliver a report over a channel; a rerun
    # of the same report delivers again and adds rows (a new delivery_id). `target` is masked: no token,
    # no full e-mail address.
    con.execute(
        """
        CREATE TABLE deliveries (
            delivery_id VARCHAR NOT NULL,
            day DATE NOT NULL,
            channel VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            attempt INTEGER NOT NULL,
            success BOOLEAN NOT NULL,
            error VARCHAR,
            attempted_at TIMESTAMPTZ NOT NULL
        )
        """
    )


MIGRATIONS.append((4, "deliveries: the delivery log of daily reports", _deliveries))


# ---------------------------------------------------------------------------------------------------------
# Migration 5: data-quality runs, their results, and each day's status (quality/checks.py, docs/quality.md).
# ---------------------------------------------------------------------------------------------------------


def _quality(con: duckdb.DuckDBPyConnection) -> None:
    # key: run_id. One row per `liveops quality` run of a day; reruns add rows (the history is kept).
    con.execute(
        """
        CREATE TABLE quality_runs (
            run_id VARCHAR NOT NULL,  -- key
            day DATE NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ NOT NULL,
            report_time TIMESTAMPTZ NOT NULL,
            expectations INTEGER NOT NULL,
            critical_failures INTEGER NOT NULL,
            warnings INTEGER NOT NULL,
            verified BOOLEAN NOT NULL
        )
        """
    )
    # key: (run_id, suite, expectation). Every expectation's outcome; observed_value is JSON text.
    con.execute(
        """
        CREATE TABLE quality_results (
            run_id VARCHAR NOT NULL,
            day DATE NOT NULL,
            suite VARCHAR NOT NULL,
            expectation VARCHAR NOT NULL,
            severity VARCHAR NOT NULL,  -- one of 'critical', 'warning'
            success BOOLEAN NOT NULL,
            observed_value VARCHAR,
            details VARCHAR  -- key: (run_id, suite, expectation)
        )
        """
    )
    # key: day. The latest run's verdict: 'unverified' when a critical expectation failed.
    con.execute(
        """
        CREATE TABLE day_status (
            day DATE NOT NULL,  -- key
            status VARCHAR NOT NULL,  -- one of 'verified', 'unverified'
            run_id VARCHAR NOT NULL,
            checked_at TIMESTAMPTZ NOT NULL,
            critical_failures INTEGER NOT NULL,
            warnings INTEGER NOT NULL
        )
        """
    )
    # Analysts: what failed in the latest run of each day.
    con.execute(
        """
        CREATE VIEW v_quality_failures AS
        SELECT r.day, s.status, r.suite, r.expectation, r.severity, r.observed_value, r.details, s.checked_at
        FROM quality_results r JOIN day_status s ON s.run_id = r.run_id
        WHERE NOT r.success
        """
    )


MIGRATIONS.append((5, "data quality: runs, results and day status", _quality))


# ---------------------------------------------------------------------------------------------------------
# Migration 6: an event's arrival is its first copy's; the watermark caps clocks that run ahead.
# ---------------------------------------------------------------------------------------------------------


def _arrivals_and_skew(con: duckdb.DuckDBPyConnection) -> None:
    # key: (raw_table, event_id, new_kafka_timestamp). One row per copy of an event that arrived (Kafka
    # timestamp) before the copy kept in its raw table: the loader moved the kept row's kafka_timestamp to
    # it. The incremental build rebuilds the days these corrections can change (warehouse/marts.py).
    con.execute(
        """
        CREATE TABLE arrival_corrections (
            raw_table VARCHAR NOT NULL,
            event_id VARCHAR NOT NULL,
            event_time TIMESTAMPTZ NOT NULL,
            old_kafka_timestamp TIMESTAMPTZ NOT NULL,
            new_kafka_timestamp TIMESTAMPTZ NOT NULL,
            kafka_topic VARCHAR,
            kafka_partition INTEGER,
            kafka_offset BIGINT,
            corrected_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    # Events of D's arrivals whose event_time is beyond kafka_timestamp + the maximum clock skew.
    con.execute("ALTER TABLE build_days ADD COLUMN future_events BIGINT DEFAULT 0")
    con.execute("ALTER TABLE build_runs ADD COLUMN max_clock_skew_seconds DOUBLE")
    con.execute(
        """
        CREATE OR REPLACE VIEW v_daily_headline AS
        SELECT h.*, b.complete, b.watermark, b.late_events, b.built_at, b.future_events
        FROM agg_daily_headline h LEFT JOIN build_days b USING (day)
        """
    )


MIGRATIONS.append((6, "arrival corrections of duplicates; future events and clock skew of builds", _arrivals_and_skew))


# ---------------------------------------------------------------------------------------------------------
# Migration 7: the operating plan (docs/plan.md). Versions are never deleted; agg_daily_plan keeps the rows of
# every version, so a report that used version 1 can still be read after version 2 is loaded.
# ---------------------------------------------------------------------------------------------------------


def _plan(con: duckdb.DuckDBPyConnection) -> None:
    # key: version. One row per distinct plan file loaded (by its sha256).
    con.execute(
        """
        CREATE TABLE plan_versions (
            version INTEGER NOT NULL,  -- key
            loaded_at TIMESTAMPTZ NOT NULL,
            file_name VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,  -- unique
            targets INTEGER NOT NULL
        )
        """
    )
    # key: (version, line). One row per target line of the file.
    con.execute(
        """
        CREATE TABLE plan_targets (
            version INTEGER NOT NULL,
            line INTEGER NOT NULL,
            metric VARCHAR NOT NULL,
            scope VARCHAR NOT NULL,
            period VARCHAR NOT NULL,
            period_start DATE NOT NULL,
            period_end DATE NOT NULL,
            target DOUBLE NOT NULL,
            direction VARCHAR NOT NULL,  -- one of 'at_least', 'at_most'
            kind VARCHAR NOT NULL,  -- one of 'target', 'budget'
            aggregation VARCHAR NOT NULL,
            note VARCHAR NOT NULL  -- key: (version, line)
        )
        """
    )
    # key: (day, plan_version, line). Attainment and pacing of each target on each built day of its period.
    con.execute(
        """
        CREATE TABLE agg_daily_plan (
            day DATE NOT NULL,
            plan_version INTEGER NOT NULL,
            line INTEGER NOT NULL,
            metric VARCHAR NOT NULL,
            scope VARCHAR NOT NULL,
            period VARCHAR NOT NULL,
            period_start DATE NOT NULL,
            period_end DATE NOT NULL,
            direction VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            aggregation VARCHAR NOT NULL,
            target DOUBLE NOT NULL,
            days_elapsed INTEGER NOT NULL,
            days_with_data INTEGER NOT NULL,
            period_days INTEGER NOT NULL,
            to_date DOUBLE,
            expected_to_date DOUBLE NOT NULL,
            attainment DOUBLE,
            projected_linear DOUBLE,
            projected_weekday DOUBLE,
            projected DOUBLE,
            projected_variance DOUBLE,
            status VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE VIEW v_plan_attainment AS
        SELECT p.* FROM agg_daily_plan p
        WHERE p.plan_version = (SELECT max(version) FROM plan_versions)
        """
    )


MIGRATIONS.append((7, "operating plan: versions, targets and agg_daily_plan", _plan))


# ---------------------------------------------------------------------------------------------------------
# Migration 8: the build lease (warehouse/lease.py): one marts build at a time, whatever runs where.
# ---------------------------------------------------------------------------------------------------------


def _leases(con: duckdb.DuckDBPyConnection) -> None:
    # key: name. At most one live row per name; a row past expires_at is stale (its holder died).
    con.execute(
        """
        CREATE TABLE leases (
            name VARCHAR NOT NULL,
            holder VARCHAR NOT NULL,
            acquired_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL
        )
        """
    )


MIGRATIONS.append((8, "leases: one marts build at a time", _leases))


# ---------------------------------------------------------------------------------------------------------
# Migration 9: the raw tables partitioned by the UTC day of event_time.
# ---------------------------------------------------------------------------------------------------------


def _partition_raw(con: duckdb.DuckDBPyConnection) -> None:
    # Each batch then writes one file per UTC day it has events on, and compaction merges files within a
    # day only: a lookup or a read of one day (the loader's dedup, a day's build, an analyst's query of a
    # day) opens that day's files, however long the history and however the files were compacted.
    for family in FAMILIES:
        con.execute(
            f"ALTER TABLE {raw_table(family)} SET PARTITIONED BY (year(event_time), month(event_time), day(event_time))"
        )


MIGRATIONS.append((9, "raw tables partitioned by the UTC day of event_time", _partition_raw))


# ---------------------------------------------------------------------------------------------------------
# Migration 10: one offsets table per Kafka partition (warehouse/offsets.py), for consumer-group members.
# ---------------------------------------------------------------------------------------------------------


def _offsets_per_partition(con: duckdb.DuckDBPyConnection) -> None:
    # Members of a consumer group each advance their own partitions; rows of one shared table would make
    # every pair of their commits conflict. The view of the same name keeps the old table's columns.
    rows = con.execute('SELECT topic, "partition", next_offset FROM ingest_offsets').fetchall()
    con.execute("DROP TABLE ingest_offsets")
    offsets.create_schema(con)
    offsets.add_partitions(con, [(t, p) for t, p, _ in rows], {(t, p): o for t, p, o in rows})
    # Which member committed each batch (host:pid; NULL for batches before this migration).
    con.execute("ALTER TABLE ingest_batches ADD COLUMN member VARCHAR")


MIGRATIONS.append(
    (10, "offsets: one table per Kafka partition, the view ingest_offsets over them", _offsets_per_partition)
)


# ---------------------------------------------------------------------------------------------------------
# Migration 11: the version of the mart definitions each build wrote (warehouse/mart_tables.py).
# ---------------------------------------------------------------------------------------------------------


def _mart_versions(con: duckdb.DuckDBPyConnection) -> None:
    # From here on marts are rebuilt, not migrated: their DDL comes from schemas/marts.py, and a build that
    # finds another version recorded than the registry's recreates every mart and rebuilds every day.
    # (Migration 3 only gives a new warehouse its first, empty marts.)
    con.execute(
        """
        CREATE TABLE mart_versions (
            version VARCHAR NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            build_id VARCHAR NOT NULL,
            recreated BOOLEAN NOT NULL
        )
        """
    )


MIGRATIONS.append((11, "mart_versions: the registry version each build wrote", _mart_versions))
