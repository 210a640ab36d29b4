"""The masking key as a Dagster resource: EnvVar config, so no run stores its value."""

import os

import dagster as dg

from fs_assets.model.paths import data_paths
from fs_assets.transforms.governance.masking_key import ENV_KEY, ENV_KEY_FILE, MaskingKey, load_key


class MaskingKeyResource(dg.ConfigurableResource):
    """The secret of the keyed masks: `key` itself, or `key_file` naming an owner-only file.

    Configure both through `dg.EnvVar` (Dagster then records the variable's name, never
    its value); with neither set, the sample setup's key file in the data folder
    (`fs-accelerator masking-key`) is used if present, else the governed assets fail
    and say what to set.
    """

    key: str | None = None
    key_file: str | None = None

    def get(self) -> MaskingKey:
        """The key; without config, the sample setup's key file in the data folder."""
        return load_key(self.key, self.key_file, data_paths().home)


def masking_key_from_env() -> MaskingKeyResource:
    """The resource reading FS_ACCELERATOR_MASKING_KEY or ..._KEY_FILE, when they are set."""
    return MaskingKeyResource(
        key=dg.EnvVar(ENV_KEY) if os.environ.get(ENV_KEY) else None,
        key_file=dg.EnvVar(ENV_KEY_FILE) if os.environ.get(ENV_KEY_FILE) else None,
    )
