"""A real, local, single-node Apache Kafka broker (KRaft, combined broker + controller).

The broker's jars are pinned in ``streams/pom.xml`` and resolved from Maven Central with
``mvn dependency:copy-dependencies`` into a cache directory on first use. ``liveops kafka up`` and the test
suite's session fixture both use :class:`LocalBroker`, so tests run against the very broker users run.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from runtime.processes import ExitedEarly, NotReadyInTime, start_and_wait

log = logging.getLogger(__name__)

POM = Path(__file__).with_name("pom.xml")
MIN_JAVA = 17


class BrokerError(RuntimeError):
    """The local broker could not be set up, started or reached; the message says what to do."""


@dataclass(frozen=True)
class TopicStatus:
    """One topic as the broker reports it."""

    name: str
    partitions: int
    end_offsets: dict[int, int]

    @property
    def messages(self) -> int:
        """Sum of end offsets (messages ever written, before retention)."""
        return sum(self.end_offsets.values())


def java_major_version(java: str = "java") -> int:
    """Major version of the ``java`` on PATH, or raise :class:`BrokerError` if there is none."""
    if shutil.which(java) is None:
        raise BrokerError(
            f"Java {MIN_JAVA}+ is needed to run the local Kafka broker, and no `java` is on PATH. "
            "Install a JDK (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`)."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise BrokerError(f"could not read the Java version from `java -version`: {out.stderr.strip()!r}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def ensure_jars(cache: Path, pom: Path = POM, progress: Callable[[str], None] | None = None) -> Path:
    """Resolve the broker's jars from Maven Central into ``cache`` unless the cache already matches the pom.

    Returns:
        The directory holding the jars.
    """
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    target = cache / digest
    marker = target / ".complete"
    if marker.exists():
        return target
    if shutil.which("mvn") is None:
        raise BrokerError(
            "Maven is needed once, to fetch the Kafka broker's jars from Maven Central, and no `mvn` is on PATH. "
            "Install it (Debian/Ubuntu: `apt-get install maven`) and run the command again."
        )
    if progress:
        progress(f"Fetching the Kafka broker's jars from Maven Central into {target} (first run only) ...")
    tmp = cache / f"{digest}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={tmp.resolve()}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BrokerError(f"`mvn dependency:copy-dependencies` failed (is Maven Central reachable?):\n{tail}")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    marker.write_text(digest)
    return target


def new_cluster_id(draw: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A fresh KRaft cluster id: 16 random bytes in URL-safe base64 without padding (22 characters).

    One id in 64 would begin with ``-``, which ``kafka-storage`` reads as an option; like Kafka's own
    ``Uuid.randomUuid``, draw again until the id does not.

    Args:
        draw: source of 16 random bytes (tests pass a fixed sequence).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(draw()).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


_SERVER_PROPERTIES = """\
# Written by liveops: a single-node KRaft broker + controller on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions={partitions}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=-1
"""

_LOG4J2 = """\
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass(frozen=True)
class LocalBroker:
    """A broker process under ``home`` (data, logs, PID file), listening on ``127.0.0.1:port``.

    The controller listens on ``controller_port`` (default ``port + 1``).
    """

    home: Path
    jars_cache: Path
    port: int = 9092
    controller_port: int | None = None
    partitions: int = 3
    heap: str = "1g"

    @property
    def bootstrap(self) -> str:
        """Bootstrap address for clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.home / "logs" / "stdout.log"

    def _controller_port(self) -> int:
        return self.controller_port if self.controller_port is not None else self.port + 1

    def pid(self) -> int | None:
        """PID of the broker this home started, if it is still running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if _process_alive(pid) and "kafka.Kafka" in _cmdline(pid):
            return pid
        return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def up(self, timeout: float = 90.0, progress: Callable[[str], None] | None = None) -> bool:
        """Start the broker unless this home's broker already runs; return when it answers metadata requests.

        Returns:
            True if a broker was started, False if one was already running.
        """
        if self.is_running():
            return False
        if (major := java_major_version()) < MIN_JAVA:
            raise BrokerError(f"Kafka 4.x needs Java {MIN_JAVA}+, found Java {major}. Install a newer JDK.")
        for port in (self.port, self._controller_port()):
            if not port_is_free(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is taken by another program. Stop it, or choose another port "
                    f"with LIVEOPS_KAFKA_PORT (the controller uses the port after it)."
                )
        jars = ensure_jars(self.jars_cache, progress=progress)
        data = self.home / "data"
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(
            _SERVER_PROPERTIES.format(
                port=self.port, controller_port=self._controller_port(), data=data.resolve(),
                partitions=self.partitions,
            )
        )  # fmt: skip
        log4j = self.home / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log=self.log_file.resolve()))
        java = [
            "java", f"-Xmx{self.heap}", "-Xms256m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j.resolve()}", f"-Dkafka.logs.dir={self.log_file.parent.resolve()}",
            "-cp", str(jars.resolve() / "*"),
        ]  # fmt: skip
        if not (data / "meta.properties").exists():
            # `--cluster-id=ID` in one argument: an id is never read as an option, whatever its first character.
            fmt = subprocess.run(
                [*java, "kafka.tools.StorageTool", "format", f"--cluster-id={new_cluster_id()}", "-c", str(config)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if fmt.returncode != 0:
                raise BrokerError(f"formatting the broker's storage failed:\n{fmt.stdout}{fmt.stderr}")
        try:
            start_and_wait(
                [*java, "kafka.Kafka", str(config)], self.stdout_file, self.answers, timeout, name="the Kafka broker",
                on_start=self._record_pid,
            )  # fmt: skip
        except ExitedEarly as exc:
            self.pid_file.unlink(missing_ok=True)
            raise BrokerError(f"the Kafka broker exited with code {exc.returncode}:\n{self.tail(30)}") from None
        except NotReadyInTime:
            self.down()
            raise BrokerError(f"the Kafka broker did not answer within {timeout:.0f} s:\n{self.tail(30)}") from None
        return True

    def _record_pid(self, process: subprocess.Popen[bytes]) -> None:
        self.pid_file.write_text(str(process.pid))

    def answers(self, timeout_ms: int = 2000) -> bool:
        """True when the broker answers a metadata request."""
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                request_timeout_ms=timeout_ms,
                bootstrap_timeout_ms=timeout_ms,
            )
        except KafkaError:
            return False
        try:
            admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    def down(self, timeout: float = 30.0) -> bool:
        """Stop the broker this home started (by its recorded PID) and nothing else.

        Returns:
            True if a broker was stopped, False if none was running.
        """
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _process_alive(pid):
            time.sleep(0.2)
        if _process_alive(pid):
            log.warning("broker %d did not stop within %.0f s; killing it", pid, timeout)
            os.kill(pid, signal.SIGKILL)
            while _process_alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def tail(self, lines: int = 50) -> str:
        """The last lines of the broker's log (or of its stdout when the log is empty)."""
        for path in (self.log_file, self.stdout_file):
            if path.exists() and path.stat().st_size:
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return "(the broker wrote no log)"


def create_topics(client_config: dict[str, object], names: list[str], partitions: int) -> list[str]:
    """Create the topics that do not exist yet (replication factor 1). Returns the names created."""
    try:
        admin = KafkaAdminClient(**client_config)
    except KafkaError as exc:
        raise BrokerError(
            f"cannot reach Kafka at {client_config.get('bootstrap_servers')}: {exc}. Start it with `liveops kafka up`."
        ) from exc
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def topic_status(client_config: dict[str, object]) -> list[TopicStatus]:
    """Every non-internal topic with its partition count and end offsets."""
    consumer = KafkaConsumer(**client_config, enable_auto_commit=False)
    try:
        result = []
        for name in sorted(t for t in consumer.topics() if not t.startswith("__")):
            parts = sorted(consumer.partitions_for_topic(name) or [])
            tps = [TopicPartition(name, p) for p in parts]
            ends = consumer.end_offsets(tps) if tps else {}
            result.append(TopicStatus(name, len(parts), {tp.partition: off for tp, off in ends.items()}))
        return result
    finally:
        consumer.close()
