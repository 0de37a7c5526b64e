"""The confluent-kafka source takes the same settings as kafka-python's: client choice, SASL and SSL mapped."""

from __future__ import annotations

from pathlib import Path

import confluent_kafka
import pytest

from config.settings import Settings
from streams.consumer import librdkafka_config


def test_the_kafka_client_setting_defaults_to_kafka_python_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().kafka_client == "kafka-python"
    monkeypatch.setenv("LIVEOPS_KAFKA_CLIENT", "confluent")
    assert Settings().kafka_client == "confluent"
    monkeypatch.setenv("LIVEOPS_KAFKA_CLIENT", "librdkafka")
    with pytest.raises(ValueError, match="kafka_client"):
        Settings()


def test_sasl_and_ssl_settings_become_librdkafka_properties_it_accepts(tmp_path: Path) -> None:
    settings = Settings(
        bootstrap_servers="k1:9093, k2:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="ingest",
        sasl_password="s3cret",  # type: ignore[arg-type]
        ssl_cafile=tmp_path / "ca.pem",
    )
    config = librdkafka_config(settings.kafka_client_config())
    assert config == {
        "bootstrap.servers": "k1:9093,k2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "ingest",
        "sasl.password": "s3cret",
        "ssl.ca.location": str(tmp_path / "ca.pem"),
    }
    # librdkafka checks property names and values when the client is made (no broker needed); the CA file
    # is left out here since it must hold a real certificate.
    consumer = confluent_kafka.Consumer(
        {**{k: v for k, v in config.items() if k != "ssl.ca.location"}, "group.id": "g"}
    )
    consumer.close()
    with pytest.raises(confluent_kafka.KafkaException):
        confluent_kafka.Consumer({**config, "group.id": "g", "sasl.mechanism": "NOPE"})


def test_a_client_setting_without_a_librdkafka_property_is_refused() -> None:
    with pytest.raises(ValueError, match="ssl_certfile"):
        librdkafka_config({"bootstrap_servers": ["k:1"], "ssl_certfile": "c.pem"})
