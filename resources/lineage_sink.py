"""The lineage sink: where OpenLineage events go (a JSONL file always, HTTP when set).

The file transport writes `<data>/lineage/openlineage.jsonl` (or `folder`); with a URL
(Marquez or any OpenLineage backend) the same events also go over HTTP. The settings are
resource config; `lineage_sink_from_env` reads the usual OPENLINEAGE_* variables as
dg.EnvVar, so a user's environment keeps working. The sensors take this resource; the
CLI builds the same resource and resolves it (`resolved_lineage_sink`).
"""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from fs_assets.lineage.emitter import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT_S, HttpTarget
from fs_assets.model.paths import data_paths

URL_ENV = "OPENLINEAGE_URL"
API_KEY_ENV = "OPENLINEAGE_API_KEY"
ENDPOINT_ENV = "OPENLINEAGE_ENDPOINT"
TIMEOUT_ENV = "OPENLINEAGE_TIMEOUT"


class LineageSinkResource(dg.ConfigurableResource):
    """The file folder of the events, and the HTTP backend when a URL is configured."""

    home: str | None = Field(
        default=None,
        description="Data folder; empty means $FS_ACCELERATOR_HOME, else ./data of the checkout.",
    )
    folder: str | None = Field(
        default=None, description="Folder of openlineage.jsonl; empty means <home>/lineage."
    )
    url: str | None = Field(
        default=None,
        description=f"OpenLineage backend (e.g. http://localhost:5000 for Marquez); empty "
        f"means the file only. ${URL_ENV} sets it.",
    )
    api_key: str | None = Field(
        default=None, description=f"API key for the backend. ${API_KEY_ENV} sets it."
    )
    endpoint: str | None = Field(
        default=None,
        description=f"Path of the backend's lineage API; empty means {DEFAULT_ENDPOINT}. "
        f"${ENDPOINT_ENV} sets it.",
    )
    timeout: str | None = Field(
        default=None,
        description=f"Seconds to wait for the backend; empty means {DEFAULT_TIMEOUT_S:g}. "
        f"${TIMEOUT_ENV} sets it.",
    )

    @property
    def lineage_folder(self) -> Path:
        if self.folder:
            return Path(self.folder).expanduser().resolve()
        return data_paths(self.home).lineage

    def http_target(self) -> HttpTarget | None:
        """The HTTP backend, or None when no URL is configured."""
        if not self.url:
            return None
        return HttpTarget(
            url=self.url,
            api_key=self.api_key or None,
            endpoint=self.endpoint or DEFAULT_ENDPOINT,
            timeout=self.timeout or None,  # a bad value is a delivery failure, not a crash
        )


# Resource field -> the environment variable that sets it.
ENV_SETTINGS = (
    ("url", URL_ENV),
    ("api_key", API_KEY_ENV),
    ("endpoint", ENDPOINT_ENV),
    ("timeout", TIMEOUT_ENV),
)


def _env_settings() -> dict[str, dg.EnvVar]:
    return {field: dg.EnvVar(env) for field, env in ENV_SETTINGS if os.environ.get(env)}


def lineage_sink_from_env(home: str | None = None) -> LineageSinkResource:
    """The sink with the OPENLINEAGE_* variables that are set passed as dg.EnvVar."""
    return LineageSinkResource(home=home, **_env_settings())


def resolved_lineage_sink(home: str | None = None) -> LineageSinkResource:
    """The same resource with its EnvVar settings resolved, for code outside a run (CLI).

    Each EnvVar is read with `get_value()`: Dagster's `process_config_and_initialize`
    would build a throwaway in-memory instance for it, 1.5-2.7 s of every build."""
    values = {field: var.get_value() for field, var in _env_settings().items()}
    return LineageSinkResource(home=home, **values)
