"""What a lake holds after ingest, for the tests that compare a crashed-and-rerun lake with one clean run
(tests/warehouse/test_crash_rerun.py in memory, tests/integration/test_exactly_once.py and test_members.py
over a real broker)."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from warehouse.lake import LakeConfig, open_lake

# The tables ingest writes, each with an order that makes its rows comparable.
TABLES = {
    "raw_viewer_events": "event_id, event_time",
    "raw_engagement_events": "event_id, event_time",
    "raw_campaign_events": "event_id, event_time",
    "raw_stream_events": "event_id, event_time",
    "quarantine": "kafka_topic, kafka_partition, kafka_offset",
    "ingest_offsets": 'topic, "partition"',
}
# Columns that say who wrote and when: they differ between runs by design, so they are not compared.
WHO_AND_WHEN = {"ingest_offsets": "member, batch_id, committed_at"}


def contents(lake: LakeConfig) -> dict[str, pl.DataFrame]:
    """Every row of each of :data:`TABLES`, in its order, without :data:`WHO_AND_WHEN`."""
    with open_lake(lake, read_only=True) as con:
        return {
            table: con.sql(
                f"SELECT * EXCLUDE ({WHO_AND_WHEN[table]}) FROM {table} ORDER BY {key}"
                if table in WHO_AND_WHEN
                else f"SELECT * FROM {table} ORDER BY {key}"
            ).pl()
            for table, key in TABLES.items()
        }


def assert_same_contents(actual: LakeConfig, expected: LakeConfig) -> None:
    """The two lakes hold the same rows in every table ingest writes."""
    got, want = contents(actual), contents(expected)
    for table in TABLES:
        assert got[table].height == want[table].height, table
        assert_frame_equal(got[table], want[table], check_row_order=True)


def ledger_totals(lake: LakeConfig) -> tuple[int, int, int, int]:
    """The ingest ledger's totals: messages, loaded, duplicates, quarantined."""
    with open_lake(lake, read_only=True) as con:
        row = con.execute("SELECT sum(messages), sum(loaded), sum(duplicates), sum(quarantined) FROM ingest_batches")
        messages, loaded, duplicates, quarantined = (int(v or 0) for v in row.fetchone() or (0, 0, 0, 0))
        return messages, loaded, duplicates, quarantined


def batches(lake: LakeConfig) -> int:
    """How many batches the ingest ledger records."""
    with open_lake(lake, read_only=True) as con:
        row = con.execute("SELECT count(*) FROM ingest_batches").fetchone()
        return int(row[0]) if row else 0
