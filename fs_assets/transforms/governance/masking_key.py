"""The secret key of the keyed masks: where it comes from, its public id, its SQL form.

Masked values are HMAC-SHA256 under this key, so a reader without it cannot test
guesses (hashing every ten-digit mobile, a list of names) against them. The key comes
from `FS_ACCELERATOR_MASKING_KEY`, or from a file named by
`FS_ACCELERATOR_MASKING_KEY_FILE` (owner-only), through the `masking_key` resource's
EnvVar config; it is never logged, stored in metadata, lineage or an export. What travels
is its id, the first 8 hex digits of HMAC(key, "key-id"): equal ids, joinable tokens.

DuckDB has no HMAC function, but HMAC is two sha256 calls over the key padded and XORed
with ipad/opad; those two blobs are set as session variables (never persisted: the view
bodies only name them), so the masking stays vectorised SQL inside DuckDB.
"""

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from fs_assets.model.file_modes import DIR_MODE, FILE_MODE
from fs_assets.model.paths import data_paths

ENV_KEY = "FS_ACCELERATOR_MASKING_KEY"
ENV_KEY_FILE = "FS_ACCELERATOR_MASKING_KEY_FILE"
MIN_KEY_CHARS = 16
KEY_ID_MESSAGE = b"key-id"
KEY_ID_CHARS = 8
SAMPLE_KEY_NAME = "masking.key"  # in <data folder>/secrets/, made by the sample setup only
# Session variables holding the padded key; the views read them with getvariable().
INNER_VAR = "fs_mask_ipad"
OUTER_VAR = "fs_mask_opad"
_BLOCK = 64  # sha256 block size in bytes


class MaskingKeyError(RuntimeError):
    """No usable key: the message says which variable or file to set."""


@dataclass(frozen=True)
class MaskingKey:
    """A secret key; its repr shows only the id, so it cannot leak through a log line."""

    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, KEY_ID_MESSAGE, hashlib.sha256).hexdigest()[:KEY_ID_CHARS]

    def token(self, value: str) -> str:
        """The keyed hash of one value, as the views compute it (tests, spot checks)."""
        return hmac.new(self.secret, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def pads(self) -> tuple[bytes, bytes]:
        """(key ^ ipad, key ^ opad), the two halves of RFC 2104 HMAC."""
        key = self.secret if len(self.secret) <= _BLOCK else hashlib.sha256(self.secret).digest()
        key = key.ljust(_BLOCK, b"\0")
        return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)

    def apply(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Make the keyed views of this session compute with this key."""
        inner, outer = self.pads()
        conn.execute(f"set variable {INNER_VAR} = ?", [inner])
        conn.execute(f"set variable {OUTER_VAR} = ?", [outer])


def hmac_sql(expr: str) -> str:
    """HMAC-SHA256 hex of `expr` (text) under the session's key; NULL without a key."""
    inner = f"unhex(sha256(getvariable('{INNER_VAR}') || encode({expr})))"
    return f"sha256(getvariable('{OUTER_VAR}') || {inner})"


def _from_text(text: str, where: str) -> MaskingKey:
    text = text.strip()
    if len(text) < MIN_KEY_CHARS:
        raise MaskingKeyError(
            f"the masking key from {where} is shorter than {MIN_KEY_CHARS} characters: "
            "use a long random value, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    return MaskingKey(text.encode("utf-8"))


def read_key_file(path: Path) -> MaskingKey:
    """The key in `path`; the file must be readable by its owner only."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise MaskingKeyError(
                f"the masking key file {path} is readable by others (mode "
                f"{stat.filemode(mode)}): run `chmod 600 {path}`"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MaskingKeyError(f"cannot read the masking key file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise MaskingKeyError(f"the masking key file {path} is not UTF-8 text") from None
    return _from_text(text, str(path))


def load_key(key: str | None, key_file: str | None, home: Path | None = None) -> MaskingKey:
    """The configured key: the value itself, else a key file, else the sample setup's key
    file in the data folder `home` (made by `fs-accelerator masking-key`); none is an error.
    """
    if key:
        return _from_text(key, ENV_KEY)
    if key_file:
        return read_key_file(Path(key_file))
    if home is not None and sample_key_path(home).exists():
        return read_key_file(sample_key_path(home))
    raise MaskingKeyError(
        f"no masking key configured: set {ENV_KEY} to a secret of at least {MIN_KEY_CHARS} "
        f"characters (or {ENV_KEY_FILE} to an owner-only file holding it); the governed "
        "views and exports hash personal data with it. For the sample data, "
        "`fs-accelerator masking-key` creates a local key file"
    )


def key_from_env() -> MaskingKey:
    """The key as the CLI sees it (the same variables the resource reads)."""
    return load_key(os.environ.get(ENV_KEY), os.environ.get(ENV_KEY_FILE), data_paths().home)


def sample_key_path(home: Path) -> Path:
    return home / "secrets" / SAMPLE_KEY_NAME


def create_sample_key(path: Path) -> bool:
    """Write a random key to `path` (0600, folder 0700) unless one is there; True if new."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    path.parent.chmod(DIR_MODE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        read_key_file(path)  # an existing file must still be a usable, private key
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_hex(32) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return True
