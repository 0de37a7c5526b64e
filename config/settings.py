"""The one settings object of liveops.

Settings are read once, by the CLI (and by flows started outside it), from environment variables with the
prefix ``LIVEOPS_`` and an optional ``.env`` file in the working directory. Library code never reads the
environment: it receives a :class:`Settings` (or the values it needs) as arguments.
"""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.lake_env import DEFAULT_LAKE_CATALOG, DEFAULT_LAKE_DATA_PATH, DEFAULT_LAKE_S3_REGION, lake_config
from warehouse.conninfo import inline_password, mask_passwords

if TYPE_CHECKING:
    from warehouse.lake import LakeConfig


class Topics(BaseModel):
    """Kafka topic names, one per event family of the contract (docs/contract.md)."""

    model_config = ConfigDict(frozen=True)

    viewer: str = "viewer-events"
    engagement: str = "engagement-events"
    campaign: str = "campaign-events"
    stream: str = "stream-events"

    def by_family(self) -> dict[str, str]:
        """Map each event family (``viewer``, ``engagement``, ...) to its topic name."""
        return {
            "viewer": self.viewer,
            "engagement": self.engagement,
            "campaign": self.campaign,
            "stream": self.stream,
        }


class Settings(BaseSettings):
    """Every setting of liveops. Environment: ``LIVEOPS_<NAME>``, nested with ``__`` (``LIVEOPS_TOPICS__VIEWER``)."""

    model_config = SettingsConfigDict(
        env_prefix="LIVEOPS_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # Kafka client
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    kafka_client: Literal["kafka-python", "confluent"] = Field(
        "kafka-python", description="Kafka client library of ingest: kafka-python or confluent (confluent-kafka)"
    )
    consumer_group: str = "liveops-ingest"
    topics: Topics = Topics()
    partitions: int = Field(3, ge=1, description="partitions per topic for `kafka create-topics`")

    # Local broker (`liveops kafka up`)
    kafka_port: int = Field(9092, ge=1, le=65535, description="port of the local broker on 127.0.0.1")
    kafka_controller_port: int | None = Field(
        None, description="controller port of the local broker (default: port + 1)"
    )
    kafka_home: Path = Field(Path(".liveops/kafka"), description="data, logs and PID of the local broker")
    kafka_jars: Path = Field(Path(".liveops/jars"), description="cache of the broker's jars from Maven Central")

    # Warehouse and reports
    lake_catalog: str = Field(
        DEFAULT_LAKE_CATALOG,
        description="the lake's catalog: 'sqlite:PATH' (default, no server) or 'postgres:dbname=... host=... user=...'",
    )
    lake_data_path: str = Field(
        DEFAULT_LAKE_DATA_PATH, description="where the lake's Parquet files live: a folder, or s3://bucket/prefix/"
    )
    lake_catalog_password: SecretStr | None = Field(None, description="password of the PostgreSQL catalog")
    lake_s3_endpoint: str | None = Field(None, description="S3-compatible endpoint host:port (default: AWS)")
    lake_s3_key_id: str | None = None
    lake_s3_secret: SecretStr | None = None
    lake_s3_region: str = DEFAULT_LAKE_S3_REGION
    lake_s3_use_ssl: bool = True
    lake_snapshot_retention: timedelta = Field(
        timedelta(days=7), description="how long `warehouse maintain` keeps old snapshots for time travel"
    )
    reports_dir: Path = Field(Path("data/reports"), description="where daily reports are written, one folder per day")
    report_timezone: str = "UTC"
    currency: str = Field("CNY", description="ISO 4217 code of every amount of money in the events and reports")
    allowed_lateness: timedelta = timedelta(hours=2)
    max_clock_skew: timedelta = Field(
        timedelta(minutes=5),
        description="how far an event_time may run ahead of its Kafka timestamp before the watermark caps it",
    )

    # Ingest
    batch_size: int = Field(100_000, ge=1, description="messages per ingest micro-batch")
    kafka_retry_timeout: timedelta = Field(
        timedelta(seconds=60),
        description="how long ingest retries when the broker stops answering before it stops (nothing is lost)",
    )
    ingest_pool: str = Field(
        "liveops-ingest",
        description="the Prefect process work pool `liveops serve` registers the ingest-member deployment on",
    )
    kafka_session_timeout: timedelta = Field(
        timedelta(seconds=10),
        description="after this long without a heartbeat, the consumer group gives a member's partitions to the "
        "others (a killed member's partitions move after this; the broker admits 6 s to 30 min)",
    )

    # Marts build
    build_slice_events: int = Field(
        2_000_000, ge=1, description="the build reads a day's viewer events in slices of about this many (memory)"
    )

    # Scheduled operation (`liveops serve`, docs/operations.md)
    ingest_interval: timedelta = Field(
        timedelta(hours=1), description="how often the hourly-ingest-build deployment runs"
    )
    report_time: time = Field(time(2, 0), description="local time (report time zone) of the daily report run")

    # Delivery of the daily report (reports/delivery.py)
    delivery_webhook_url: SecretStr | None = Field(None, description="chat webhook URL (holds a token: secret)")
    delivery_webhook_format: Literal["feishu", "lark", "dingtalk", "wecom", "slack", "json"] = "json"
    delivery_webhook_secret: SecretStr | None = Field(None, description="signing secret (Feishu/Lark, DingTalk)")
    report_base_url: str | None = Field(None, description="URL where reports_dir is published (links in deliveries)")
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    mail_from: str | None = None
    mail_to: Annotated[list[str], NoDecode] = Field(default_factory=list, description="recipients, comma-separated")
    delivery_attempts: int = Field(3, ge=1, le=10, description="tries per delivery channel")
    delivery_backoff: timedelta = Field(timedelta(seconds=5), description="wait before the 2nd try; doubles after")

    @field_validator("report_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'UTC', 'Asia/Shanghai')") from exc
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            raise ValueError(f"not an ISO 4217 currency code {value!r} (three letters, e.g. 'CNY', 'USD')")
        return code

    @field_validator("max_clock_skew")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative (e.g. 'PT5M' or 300)")
        return value

    @field_validator("kafka_retry_timeout")
    @classmethod
    def _positive_retry(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive (e.g. 'PT1M' or 60)")
        return value

    @field_validator("kafka_session_timeout")
    @classmethod
    def _session_timeout(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=6) <= value <= timedelta(minutes=30):
            raise ValueError("must be between 6 s and 30 min, the broker's bounds (e.g. 'PT45S' or 45)")
        return value

    @field_validator("ingest_interval")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive (e.g. 'PT1H' or 3600)")
        return value

    @field_validator("mail_to", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return [a.strip() for a in value.split(",") if a.strip()]
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The report time zone as a ZoneInfo."""
        return ZoneInfo(self.report_timezone)

    @property
    def lake(self) -> LakeConfig:
        """Where the warehouse lives (catalog, data path, secrets), for :func:`warehouse.lake.open_lake`."""

        def secret(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value is not None else None

        return lake_config(
            catalog=self.lake_catalog,
            data_path=self.lake_data_path,
            catalog_password=secret(self.lake_catalog_password),
            s3_endpoint=self.lake_s3_endpoint,
            s3_key_id=self.lake_s3_key_id,
            s3_secret=secret(self.lake_s3_secret),
            s3_region=self.lake_s3_region,
            s3_use_ssl=self.lake_s3_use_ssl,
        )

    def kafka_client_config(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients: bootstrap servers and security settings."""
        config: dict[str, Any] = {
            "bootstrap_servers": [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()],
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism is not None:
            config["sasl_mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            config["sasl_plain_username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile is not None:
            config["ssl_cafile"] = str(self.ssl_cafile)
        return config

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain values, secrets masked, for display."""
        shown: dict[str, Any] = self.model_dump(mode="json")
        for key, value in shown.items():
            if isinstance(getattr(self, key), SecretStr) and value is not None:
                shown[key] = "**********"
        shown["lake_catalog"] = mask_passwords(self.lake_catalog)
        return shown

    def catalog_inline_password(self) -> str | None:
        """A password written into LIVEOPS_LAKE_CATALOG itself (``password=...``), to be masked like a secret."""
        return inline_password(self.lake_catalog)
