"""Paths on the server's machine that links may name: nas link roots, SQLite database files, local
Iceberg warehouses and catalogs, dirty data written to a nas link.

The operator allows directories with OPENCDM_FILE_ROOTS (unset: no local path at all). Whatever it
says, the server's own data directory ($OPENCDM_HOME: the metadata store, the encryption key, the
bootstrap credentials) and the metadata store's SQLite file are never reachable, so that a user of
one project cannot read or change another project's users, keys and links through a link. Paths are
compared once symlinks and ``..`` are resolved (realpath), and callers open the resolved path.
"""

from __future__ import annotations

import os

from opencdm.errors import CdmError
from opencdm.settings import Settings

# What SQLite keeps beside a database file.
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def _inside(path: str, directory: str) -> bool:
    return os.path.commonpath([directory, path]) == directory


def forbidden_paths(settings: Settings | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The resolved directories and files no link may reach: the server's data directory, and
    the metadata store's SQLite file (wherever OPENCDM_DATABASE_URL puts it) with its companions."""
    settings = settings or Settings.from_env()
    directories = (os.path.realpath(settings.home),)
    store = settings.store_file
    files = tuple(os.path.realpath(f"{store}{suffix}") for suffix in _SQLITE_COMPANIONS) if store else ()
    return directories, files


def is_server_private(real_path: str) -> bool:
    """Whether a resolved path is (inside) the server's own data, which no link may reach."""
    directories, files = forbidden_paths()
    return real_path in files or any(_inside(real_path, directory) for directory in directories)


def refuse_server_private(name: str, path: str, real_path: str | None = None) -> str:
    """``path`` resolved, unless it is (inside) the server's own data: then Cdm.0250."""
    real = real_path or os.path.realpath(path)
    if is_server_private(real):
        raise CdmError(
            "Cdm.0250",
            f"Cannot operate on path: {path} ({name} leads into the server's own data directory, "
            "which no link can reach).",
        )
    return real


def allowed_local_path(name: str, path: str) -> str:
    """``path`` (the value of input ``name``) resolved, when it lies inside the directories the
    operator allows (OPENCDM_FILE_ROOTS) and outside the server's own data ($OPENCDM_HOME)."""
    allowed = Settings.from_env().file_roots
    if allowed is None:
        raise CdmError(
            "Cdm.0014",
            f"Local paths in {name} are disabled on this server: its operator allows them by setting "
            "OPENCDM_FILE_ROOTS to the directories links may use (separated by ':') and restarting it.",
        )
    if not os.path.isabs(path):
        raise CdmError("Cdm.0014", f"The parameter is invalid: {name} [{path}] must be an absolute path.")
    real = os.path.realpath(path)
    for allowed_root in allowed:
        if _inside(real, os.path.realpath(allowed_root)):
            return refuse_server_private(name, path, real)
    raise CdmError(
        "Cdm.0014",
        f"The parameter is invalid: {name} [{path}] is outside the directories this server allows "
        f"(OPENCDM_FILE_ROOTS: {os.pathsep.join(allowed)}).",
    )
