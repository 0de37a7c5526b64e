"""The lake's settings alone, read without Pydantic: what ``liveops query`` needs to start fast.

:class:`config.settings.Settings` reads every setting through pydantic-settings, which costs more at
start-up (~0.1 s of imports) than a whole ``select 1`` on the lake. ``liveops query`` needs only the
``LIVEOPS_LAKE_*`` variables, so it reads them here, from the same places and with the same precedence:
the environment over a ``.env`` file in the working directory, names case-insensitive.

It gives up (``None``) on anything it does not read exactly as Pydantic would, a value it would have to
convert or a ``.env`` line without a value, and the caller then loads the full :class:`Settings`, which
accepts or rejects the value with its usual message. The tests compare the two on many configurations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warehouse.lake import LakeConfig

PREFIX = "liveops_"

# The defaults of the lake's settings (config.settings.Settings declares its fields with these).
DEFAULT_LAKE_CATALOG = "sqlite:data/lake/catalog.sqlite"
DEFAULT_LAKE_DATA_PATH = "data/lake/files/"
DEFAULT_LAKE_S3_REGION = "us-east-1"

# The settings the lake is made of: Settings.lake reads these fields and no other.
LAKE_FIELDS = (
    "lake_catalog",
    "lake_data_path",
    "lake_catalog_password",
    "lake_s3_endpoint",
    "lake_s3_key_id",
    "lake_s3_secret",
    "lake_s3_region",
    "lake_s3_use_ssl",
)

# The strings Pydantic reads as a bool (in any case).
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _lake_values(pairs: Mapping[str, str | None], into: dict[str, str]) -> bool:
    """Copy the ``LIVEOPS_LAKE_*`` values of ``pairs`` into ``into`` (by field name); False: one has no value."""
    for key, value in pairs.items():
        lowered = key.lower()
        if not lowered.startswith(PREFIX) or (name := lowered[len(PREFIX) :]) not in LAKE_FIELDS:
            continue
        if value is None:
            return False
        into[name] = value
    return True


def lake_from_environment(environ: Mapping[str, str] | None = None, env_file: Path = Path(".env")) -> LakeConfig | None:
    """The lake's settings from ``environ`` (default: the environment) and ``env_file``, as ``Settings().lake``
    would give them; ``None`` when they must be read by the full settings (see the module's docstring)."""
    values: dict[str, str] = {}
    if env_file.is_file():
        try:
            from dotenv import dotenv_values  # what pydantic-settings reads .env with

            if not _lake_values(dotenv_values(env_file, encoding="utf-8"), values):
                return None
        except (OSError, UnicodeDecodeError):
            return None
    _lake_values(os.environ if environ is None else environ, values)
    use_ssl = values.get("lake_s3_use_ssl", "true").lower()
    if use_ssl not in _TRUE | _FALSE:
        return None
    return lake_config(
        catalog=values.get("lake_catalog", DEFAULT_LAKE_CATALOG),
        data_path=values.get("lake_data_path", DEFAULT_LAKE_DATA_PATH),
        catalog_password=values.get("lake_catalog_password"),
        s3_endpoint=values.get("lake_s3_endpoint"),
        s3_key_id=values.get("lake_s3_key_id"),
        s3_secret=values.get("lake_s3_secret"),
        s3_region=values.get("lake_s3_region", DEFAULT_LAKE_S3_REGION),
        s3_use_ssl=use_ssl in _TRUE,
    )


def lake_config(
    *,
    catalog: str,
    data_path: str,
    catalog_password: str | None,
    s3_endpoint: str | None,
    s3_key_id: str | None,
    s3_secret: str | None,
    s3_region: str,
    s3_use_ssl: bool,
) -> LakeConfig:
    """The lake the settings name (the one construction behind ``Settings.lake`` and the fast path): S3 keys
    only for an ``s3://`` data path; an empty password or key is none."""
    from warehouse.lake import LakeConfig, S3Location  # DuckDB loads only when the lake is used

    s3 = None
    if data_path.startswith("s3://"):
        s3 = S3Location(
            endpoint=s3_endpoint, key_id=s3_key_id or "", secret=s3_secret or "", region=s3_region, use_ssl=s3_use_ssl
        )
    return LakeConfig(catalog, data_path, catalog_password or None, s3)
