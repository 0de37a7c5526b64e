"""The local broker is real: messages go through it, and it stops when told."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from config.settings import Settings
from streams.broker import BrokerError, LocalBroker, create_topics, free_port, topic_status

pytestmark = pytest.mark.kafka


def test_produce_and_consume_through_the_broker(settings: Settings) -> None:
    config = settings.kafka_client_config()
    topic = settings.topics.viewer
    assert create_topics(config, [topic], 3) == [topic]
    assert create_topics(config, [topic], 3) == []  # idempotent

    producer = KafkaProducer(**config)
    sent = [f"message-{i}".encode() for i in range(50)]
    for i, value in enumerate(sent):
        producer.send(topic, key=str(i % 7).encode(), value=value)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(**config, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(3)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    received: list[bytes] = []
    for _ in range(20):
        for records in consumer.poll(timeout_ms=500).values():
            received.extend(r.value for r in records)
        if len(received) >= len(sent):
            break
    consumer.close()
    assert sorted(received) == sorted(sent)

    status = {t.name: t for t in topic_status(config)}
    assert status[topic].partitions == 3
    assert status[topic].messages == 50


def test_second_up_reports_running_and_down_is_idempotent(tmp_path: Path, kafka_broker: LocalBroker) -> None:
    # The session broker's home: `up` again must not start another process.
    assert kafka_broker.up() is False
    assert kafka_broker.is_running()
    # A broker object for a home that never started anything stops nothing, twice.
    idle = LocalBroker(home=tmp_path / "idle", jars_cache=kafka_broker.jars_cache, port=free_port())
    assert idle.down() is False
    assert idle.down() is False


def test_up_refuses_a_taken_port(tmp_path: Path, kafka_broker: LocalBroker) -> None:
    other = LocalBroker(home=tmp_path / "other", jars_cache=kafka_broker.jars_cache, port=kafka_broker.port)
    with pytest.raises(BrokerError, match=f"port {kafka_broker.port} on 127.0.0.1 is taken"):
        other.up()


def test_cli_lifecycle_up_status_down(tmp_path: Path, kafka_broker: LocalBroker) -> None:
    """`liveops kafka up / status / down` from a shell, on its own ports and home."""
    port, controller = free_port(), free_port()
    env = {
        "LIVEOPS_KAFKA_CONTROLLER_PORT": str(controller),
        "LIVEOPS_KAFKA_HOME": str(tmp_path / "home"),
        "LIVEOPS_KAFKA_JARS": str(kafka_broker.jars_cache),
        "LIVEOPS_KAFKA_PORT": str(port),
        "LIVEOPS_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
    }

    def liveops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "liveops", *args], capture_output=True, text=True, env=os.environ | env,
            timeout=180, check=False,
        )  # fmt: skip

    try:
        up = liveops("kafka", "up")
        assert up.returncode == 0, up.stderr
        assert f"Kafka is up at 127.0.0.1:{port}" in up.stderr
        again = liveops("kafka", "up")
        assert "already running" in again.stderr
        assert liveops("kafka", "create-topics").returncode == 0
        status = liveops("kafka", "status")
        assert "running, PID" in status.stdout
        assert "viewer-events" in status.stdout and "partitions=3" in status.stdout
    finally:
        down = liveops("kafka", "down")
    assert "Kafka broker stopped." in down.stderr
    assert "No liveops Kafka broker is running." in liveops("kafka", "down").stderr
    stopped = liveops("kafka", "status")
    assert stopped.returncode == 1
    assert "not running" in stopped.stdout and "liveops kafka up" in stopped.stderr
