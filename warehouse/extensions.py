"""DuckDB extensions for the lake, loaded from the installed Python wheels, never from the network.

DuckDB's signed extension builds are on PyPI as wheels (``duckdb-extension-ducklake`` and friends); each
carries one ``.duckdb_extension`` file per DuckDB version under ``extensions/v<version>/``. The project pins
DuckDB and these wheels to the same version (see docs/warehouse.md). :func:`load_lake_extensions` turns off
DuckDB's automatic install and load on the connection, then ``LOAD``\\s each file by its path, so nothing is
fetched, and nothing is written to the user's extension directory.

:func:`lake_connection` opens the connection these files are loaded into. It skips DuckDB's signature check
of each file (``allow_unsigned_extensions``): that check reads the whole ~35 MB file and verifies an RSA
signature over it, ~0.1-0.4 s per extension and most of a ``liveops query``'s start-up, and it guards
against loading a build from an untrusted source. These files are not from one: they come from wheels
that ``uv`` installed with the hashes in ``uv.lock`` checked, into the same environment as DuckDB's own
library and liveops's code, which nothing signs either; whoever could change an extension file there could
change those. The connection still loads nothing else by itself (automatic install and load are off), and
``liveops query`` refuses any statement but a read (``LOAD`` and ``INSTALL`` included).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

#: DuckDB extension name -> the Python package (from its wheel) that carries it.
_PACKAGES: dict[str, str] = {
    "ducklake": "duckdb_extension_ducklake",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "httpfs": "duckdb_extension_httpfs",
}


class ExtensionUnavailableError(RuntimeError):
    """An extension's wheel is missing, or has no build for the running DuckDB version."""


def _wheel_name(package: str) -> str:
    return package.replace("_", "-")


def extension_file(name: str) -> Path:
    """Return the path of the extension ``name`` built for the running DuckDB, from its installed wheel.

    Args:
        name: One of ``ducklake``, ``sqlite_scanner``, ``postgres_scanner``, ``httpfs``.

    Returns:
        The ``.duckdb_extension`` file.

    Raises:
        ExtensionUnavailableError: The wheel is not installed, or carries no build for this DuckDB version.
    """
    package = _PACKAGES.get(name)
    if package is None:
        raise ExtensionUnavailableError(f"unknown DuckDB extension {name!r} (known: {', '.join(_PACKAGES)})")
    version = duckdb.__version__
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ExtensionUnavailableError(
            f"the DuckDB extension {name!r} is not installed: its wheel {_wheel_name(package)}=={version} "
            "is missing. Run `uv sync` (it installs the locked wheels), or "
            f"`pip install {_wheel_name(package)}=={version}`."
        )
    path = Path(spec.origin).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ExtensionUnavailableError(
            f"the installed wheel {_wheel_name(package)} has no build of {name!r} for DuckDB {version}: "
            f"pin {_wheel_name(package)}=={version} (the wheels and duckdb must carry the same version), "
            "then run `uv sync`."
        )
    return path


def lake_connection() -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection for :func:`load_lake_extensions`: no signature check, no network.

    The files it loads are the installed wheels' own (see the module's docstring for why their signature is
    not checked again on every start); DuckDB's automatic extension install and load are off before it returns.
    """
    con = duckdb.connect(config={"allow_unsigned_extensions": True})
    disable_network_extensions(con)
    return con


def disable_network_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """Stop DuckDB from installing or loading extensions by itself (which would try the network).

    Args:
        con: The connection to configure.
    """
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")


def load_lake_extensions(
    con: duckdb.DuckDBPyConnection, *, sqlite: bool = True, postgres: bool = False, httpfs: bool = False
) -> None:
    """Load ``ducklake`` and the extensions its catalog and data path need into ``con``, and no others.

    Each ``LOAD`` maps and initialises a ~35 MB file (and, on a connection not made by
    :func:`lake_connection`, checks its signature over the whole file: see bench/startup.py), so an extension
    the lake does not use is not loaded: a PostgreSQL catalog does not pay for ``sqlite_scanner``, a local
    data path not for ``httpfs``.
    Automatic extension install and load are turned off on the connection first, so a missing extension is
    an error here, never a download.

    Args:
        con: The connection to load into.
        sqlite: Load ``sqlite_scanner`` (a SQLite catalog, the default).
        postgres: Load ``postgres_scanner`` (a PostgreSQL catalog).
        httpfs: Load ``httpfs`` (a data path on an S3-compatible object store).

    Raises:
        ExtensionUnavailableError: A wheel is missing or does not match the running DuckDB version.
    """
    disable_network_extensions(con)
    names = ["ducklake"]
    if sqlite:
        names.append("sqlite_scanner")
    if postgres:
        names.append("postgres_scanner")
    if httpfs:
        names.append("httpfs")
    for name in names:
        path = extension_file(name)
        try:
            con.execute(f"LOAD '{_sql_string(str(path))}'")
        except duckdb.Error as exc:
            raise ExtensionUnavailableError(
                f"DuckDB {duckdb.__version__} could not load the extension {name!r} from {path}: {exc}. "
                f"Pin duckdb and {_wheel_name(_PACKAGES[name])} to the same version, then run `uv sync`."
            ) from exc
        log.debug("loaded DuckDB extension %s from %s", name, path)


def _sql_string(text: str) -> str:
    return text.replace("'", "''")
