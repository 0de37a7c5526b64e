"""The lake door: dedup on (event_id, event day) bounded to the batch's days, per-partition offsets,
time travel, the build lease, maintenance, and the secrets of a PostgreSQL catalog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from schemas.events import polars_schema
from tests.conftest import new_lake
from transforms.decode import QUARANTINE_SCHEMA
from warehouse.lake import LakeConfig, WarehouseBusy, WarehouseError, current_snapshot, open_lake, transaction
from warehouse.lease import lease
from warehouse.loader import LakeWarehouse, _day_ranges
from warehouse.maintenance import live_files, maintain
from warehouse.migrations import MIGRATIONS

T0 = datetime(2026, 11, 3, 10, tzinfo=UTC)


def likes(*rows: tuple[str, datetime], offset: int = 0) -> pl.DataFrame:
    """Engagement rows (likes) with these (event_id, event_time), at consecutive Kafka offsets."""
    schema = polars_schema("engagement")
    records: list[dict[str, Any]] = []
    for n, (event_id, at) in enumerate(rows):
        records.append(
            {name: None for name in schema}
            | {
                "event_id": event_id, "event_type": "like", "event_time": at, "schema_version": 1,
                "user_id": "u1", "session_id": "s1", "stream_id": "st1", "channel_id": "c1",
                "kafka_topic": "engagement-events", "kafka_partition": 0, "kafka_offset": offset + n,
                "kafka_timestamp": at,
            }
        )  # fmt: skip
    return pl.DataFrame(records, schema=schema)


def load(warehouse: LakeWarehouse, frame: pl.DataFrame, next_offset: int) -> Any:
    empty = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return warehouse.load_batch(
        {"engagement": frame}, empty, {("engagement-events", 0): next_offset}, frame.height, 0, 0, datetime.now(UTC)
    )


def test_a_copy_is_found_on_its_day_and_the_lookup_reads_only_the_batchs_days(tmp_path: Path) -> None:
    with LakeWarehouse(new_lake(tmp_path)) as warehouse:
        first = load(warehouse, likes(("a", T0), ("b", T0 + timedelta(days=1))), 2)
        assert (first.loaded, first.duplicates) == (2, 0)
        # "a" again (a copy: same id, same day, later in the day) and "c" new: one duplicate.
        again = load(warehouse, likes(("a", T0 + timedelta(hours=3)), ("c", T0), offset=2), 4)
        assert (again.loaded, again.duplicates) == (1, 1)
        # The same id on another day is another row (the key is the id and the event's UTC day).
        other_day = load(warehouse, likes(("a", T0 + timedelta(days=5)), offset=4), 5)
        assert (other_day.loaded, other_day.duplicates) == (1, 0)
        rows = warehouse.con.execute("SELECT event_id, event_time FROM raw_engagement_events ORDER BY ALL").fetchall()
        assert [r[0] for r in rows] == ["a", "a", "b", "c"]
        assert warehouse.read_offsets() == {("engagement-events", 0): 5}
        # The ledger agrees: every message is loaded or a duplicate.
        ledger = warehouse.con.execute("SELECT sum(messages), sum(loaded), sum(duplicates) FROM ingest_batches")
        assert ledger.fetchone() == (5, 4, 1)


def test_the_day_filter_covers_exactly_the_batchs_utc_days() -> None:
    frame = likes(("a", T0), ("b", T0 + timedelta(days=1)), ("c", T0 + timedelta(days=7)))
    text = _day_ranges(frame)
    assert text.count(" OR ") == 1  # Nov 3-4 in one range, Nov 10 alone
    assert "'2026-11-03 00:00:00+00'" in text and "'2026-11-05 00:00:00+00'" in text
    assert "'2026-11-10 00:00:00+00'" in text and "'2026-11-11 00:00:00+00'" in text


def test_each_partition_has_one_offsets_row(tmp_path: Path) -> None:
    with LakeWarehouse(new_lake(tmp_path)) as warehouse:
        empty = pl.DataFrame(schema=QUARANTINE_SCHEMA)
        for n in range(1, 4):
            offsets = {("t", 0): 10 * n, ("t", 1): 5 * n}
            warehouse.load_batch({}, empty, offsets, 0, 0, 0, datetime.now(UTC))
        rows = warehouse.con.execute('SELECT topic, "partition", next_offset FROM ingest_offsets ORDER BY ALL')
        assert rows.fetchall() == [("t", 0, 30), ("t", 1, 15)]


def test_time_travel_reads_an_earlier_snapshot(tmp_path: Path) -> None:
    lake = new_lake(tmp_path)
    with LakeWarehouse(lake) as warehouse:
        load(warehouse, likes(("a", T0)), 1)
        before = current_snapshot(warehouse.con)
        load(warehouse, likes(("b", T0), offset=1), 2)
    with open_lake(lake, snapshot=before) as old, open_lake(lake, read_only=True) as now:
        assert old.execute("SELECT count(*) FROM raw_engagement_events").fetchone() == (1,)
        assert now.execute("SELECT count(*) FROM raw_engagement_events").fetchone() == (2,)
    with pytest.raises(WarehouseError, match="No snapshot found"):
        open_lake(lake, snapshot=10_000)


def test_a_rolled_back_transaction_leaves_nothing(tmp_path: Path) -> None:
    with open_lake(new_lake(tmp_path)) as con:
        with pytest.raises(RuntimeError), transaction(con):
            con.execute("INSERT INTO leases VALUES ('x', 'me', now(), now())")
            raise RuntimeError("crash between write and commit")
        assert con.execute("SELECT count(*) FROM leases").fetchone() == (0,)


def test_one_build_lease_at_a_time(tmp_path: Path) -> None:
    lake = new_lake(tmp_path)
    with open_lake(lake) as a, open_lake(lake) as b:
        with lease(a) as held:
            with pytest.raises(WarehouseBusy, match="another marts-build is running"), lease(b):
                pass
            held.renew()
        with lease(b):  # released: the next build gets it
            assert b.execute("SELECT count(*) FROM leases").fetchone() == (1,)
        assert b.execute("SELECT count(*) FROM leases").fetchone() == (0,)


def test_maintenance_compacts_and_keeps_every_row(tmp_path: Path) -> None:
    lake = new_lake(tmp_path)
    with LakeWarehouse(lake) as warehouse:
        for n in range(12):  # twelve micro-batches of 30 rows: twelve small files
            rows = [(f"e{n}-{i}", T0 + timedelta(minutes=i)) for i in range(30)]
            load(warehouse, likes(*rows, offset=30 * n), 30 * (n + 1))
        con = warehouse.con
        before = live_files(con)
        result = maintain(con, retention=timedelta(0))
        assert result.files_before == before >= 12
        assert result.files_after < before
        assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM raw_engagement_events").fetchone() == (
            360,
            360,
        )
        assert result.snapshots_expired > 0 and result.files_deleted > 0


@pytest.mark.parametrize("lake", ["postgres"], indirect=True)
def test_a_postgres_catalog_keeps_its_password_out_of_sight(lake: LakeConfig) -> None:
    assert lake.catalog_password and lake.catalog_password not in lake.attach_sql()
    assert lake.catalog_password not in lake.describe() and lake.catalog_password not in repr(lake)
    with open_lake(lake) as con:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)
    wrong = LakeConfig(lake.catalog, lake.data_path, "not-the-password")
    with pytest.raises(WarehouseError, match="password authentication failed") as failure:
        open_lake(wrong)
    assert "not-the-password" not in str(failure.value)


def test_a_password_written_into_the_catalog_string_is_masked_in_errors(tmp_path: Path) -> None:
    from streams.broker import free_port

    catalog = f"postgres:dbname=x host=127.0.0.1 port={free_port()} user=u password=hunter2"
    lake = LakeConfig(catalog, f"{tmp_path}/files/")
    assert "hunter2" not in lake.describe()
    with pytest.raises(WarehouseError) as failure:
        open_lake(lake)
    assert "hunter2" not in str(failure.value) and "password=**********" in str(failure.value)


@pytest.fixture(scope="module")
def object_store() -> Any:
    """A local S3-compatible object store (moto's server) with the bucket ``lake``: (endpoint, client)."""
    import boto3
    from moto.server import ThreadedMotoServer

    from streams.broker import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="test-key",
        aws_secret_access_key="test-secret", region_name="us-east-1",
    )  # fmt: skip
    client.create_bucket(Bucket="lake")
    yield f"127.0.0.1:{port}", client
    server.stop()


def test_the_data_path_on_an_object_store(tmp_path: Path, object_store: Any) -> None:
    from warehouse.lake import S3Location

    endpoint, client = object_store
    s3 = S3Location(endpoint, "test-key", "test-secret", use_ssl=False)
    lake = LakeConfig(f"sqlite:{tmp_path / 'catalog.sqlite'}", "s3://lake/liveops/", None, s3)
    assert "test-secret" not in lake.describe() and "test-secret" not in repr(lake)
    with LakeWarehouse(lake) as warehouse:
        for n in range(3):
            load(warehouse, likes(*[(f"e{n}-{i}", T0) for i in range(20)], offset=20 * n), 20 * (n + 1))
        maintain(warehouse.con, retention=timedelta(0))
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="lake", Prefix="liveops/").get("Contents", [])]
    assert keys and all(k.endswith(".parquet") for k in keys)  # the rows live in the bucket
    with open_lake(lake, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw_engagement_events").fetchone() == (60,)


WRITER = """
import sys
from datetime import UTC, datetime, timedelta
sys.path.insert(0, sys.argv[3])
import polars as pl
from tests.warehouse.test_lake import T0, likes
from transforms.decode import QUARANTINE_SCHEMA
from warehouse.lake import LakeConfig
from warehouse.loader import LakeWarehouse
me = int(sys.argv[2])
with LakeWarehouse(LakeConfig(sys.argv[1], sys.argv[4])) as warehouse:
    for n in range(15):
        frame = likes(*[(f"w{me}-{n}-{i}", T0 + timedelta(minutes=i)) for i in range(50)], offset=50 * n)
        frame = frame.with_columns(kafka_partition=me)
        offsets = {("engagement-events", me): 50 * (n + 1)}
        warehouse.load_batch({"engagement": frame}, pl.DataFrame(schema=QUARANTINE_SCHEMA), offsets, 50, 0, 0,
                             datetime.now(UTC))
"""


def test_three_writers_on_the_default_catalog_all_commit(tmp_path: Path) -> None:
    """SQLite lets one writer commit at a time ("database is locked" for the others): every clash is
    retried, so three concurrent ingest writers (one partition each) commit every batch, exactly once."""
    import subprocess
    import sys

    lake = new_lake(tmp_path)
    repo = str(Path(__file__).resolve().parents[2])
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, lake.catalog, str(me), repo, lake.data_path], cwd=repo)
        for me in range(3)
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0, 0]
    with open_lake(lake, read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM raw_engagement_events").fetchone() == (
            2250,
            2250,
        )
        assert con.execute("SELECT count(*), sum(loaded) FROM ingest_batches").fetchone() == (45, 2250)
        offsets = con.execute('SELECT "partition", next_offset FROM ingest_offsets ORDER BY 1').fetchall()
        assert offsets == [(0, 750), (1, 750), (2, 750)]


def test_a_day_lives_in_its_own_files(tmp_path: Path) -> None:
    """The raw tables are partitioned by UTC day: a batch spanning two days writes a file for each, and a
    read of one day opens only that day's files (also after compaction)."""
    lake = new_lake(tmp_path)
    with LakeWarehouse(lake) as warehouse:
        for n in range(3):
            rows = [(f"e{n}-{i}", T0 + timedelta(hours=i)) for i in range(30)]  # 10:00 day 1 .. 15:00 day 2
            load(warehouse, likes(*rows, offset=30 * n), 30 * (n + 1))
        maintain(warehouse.con, retention=timedelta(0))
        files = warehouse.con.execute(
            "SELECT data_file FROM ducklake_list_files('lake', 'raw_engagement_events')"
        ).fetchall()
        assert files and all("day=" in f[0] for f in files)
        plan = warehouse.con.execute(
            "EXPLAIN ANALYZE SELECT count(*) FROM raw_engagement_events WHERE event_time >= TIMESTAMPTZ "
            "'2026-11-04 00:00:00+00' AND event_time < TIMESTAMPTZ '2026-11-05 00:00:00+00'"
        ).fetchall()[0][1]
        assert "day=4" in plan and "day=3" not in plan


def test_writers_opening_a_new_lake_at_once_all_open_it_migrated(tmp_path: Path) -> None:
    """Members of a consumer group started together on a new lake race to create and migrate it."""
    import subprocess
    import sys

    script = (
        "import sys; from warehouse.lake import LakeConfig, open_lake\n"
        "con = open_lake(LakeConfig(sys.argv[1], sys.argv[2]))\n"
        "print(con.execute('SELECT count(*) FROM schema_migrations').fetchone()[0])\n"
    )
    catalog, data = f"sqlite:{tmp_path / 'catalog.sqlite'}", f"{tmp_path / 'files'}/"
    root = Path(__file__).resolve().parents[2]
    opening = [
        subprocess.Popen(
            [sys.executable, "-c", script, catalog, data],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=300) for p in opening]
    assert [p.returncode for p in opening] == [0] * 4, [err for _, err in results]
    assert [out.strip() for out, _ in results] == [str(len(MIGRATIONS))] * 4  # each migration recorded once
