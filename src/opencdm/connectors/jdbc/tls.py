"""A link's TLS (``config.Tls``) as the database clients take it, and their TLS failures in words.

Clients built on libpq (psycopg, ADBC, DuckDB's postgres scanner) read the CAs to trust from a
file, each time they connect (a cancel request and DuckDB's scan threads too): a CA given as PEM
text with the link is written to a private directory of the process, removed when it exits. Copier
processes leave with ``os._exit``, which runs no exit handler: the directories of processes gone
are removed by the next process that makes one. The system's CAs are the bundle Python's ``ssl``
finds (it follows ``SSL_CERT_FILE``), named explicitly because each client bundles its own libpq
and OpenSSL, which may look elsewhere.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import ssl
import tempfile
import threading
from pathlib import Path

from opencdm.connectors.jdbc.config import SSL_CA_CERT, SSL_MODE, USE_SSL, SslMode, Tls
from opencdm.errors import CdmError

_PREFIX = "opencdm-ca-"
_lock = threading.Lock()
_directory: Path | None = None


def _private_directory() -> Path:
    global _directory
    with _lock:
        # A forked process uses its parent's directory, which lives as long as the parent.
        if _directory is None or not _directory.is_dir():
            _remove_orphans()
            _directory = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))  # mode 0700
            atexit.register(_remove_own, _directory)
        return _directory


def _remove_own(directory: Path) -> None:
    # Exit handlers are inherited by forked processes: each removes only the directory it made.
    if directory.name.startswith(f"{_PREFIX}{os.getpid()}-"):
        shutil.rmtree(directory, ignore_errors=True)


def _remove_orphans() -> None:
    """Remove the CA directories of this user's processes that have ended."""
    for directory in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = directory.name[len(_PREFIX):].split("-", 1)[0]
        try:
            if not pid.isdigit() or directory.is_symlink() or directory.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(directory, ignore_errors=True)
        except OSError:
            continue  # alive (another user's, or still ours): leave it


def ca_file(tls: Tls) -> str:
    """A file holding the CAs ``tls`` trusts."""
    if tls.ca_pem is None:
        system = ssl.get_default_verify_paths()
        for candidate in (system.cafile, system.openssl_cafile):
            if candidate and os.path.isfile(candidate):
                return candidate
        raise CdmError("Cdm.0901", "Cannot connect to the database server. Cause: this system has no CA bundle "
                       f"to verify the server's certificate with; give the CA as {SSL_CA_CERT}.")
    path = _private_directory() / f"{hashlib.sha256(tls.ca_pem.encode()).hexdigest()}.pem"
    if not path.exists():
        # Written aside, then renamed: a connection opened meanwhile in another thread never reads half a file.
        partial = path.with_suffix(f".{threading.get_ident()}.part")
        partial.write_text(tls.ca_pem if tls.ca_pem.endswith("\n") else tls.ca_pem + "\n")
        partial.replace(path)
    return str(path)


def libpq_parameters(tls: Tls | None) -> dict[str, str]:
    """libpq's connection parameters for ``tls``: never ``prefer`` or ``allow``, which would let a
    connection fall back to plaintext (or a plaintext link to TLS it did not ask for)."""
    if tls is None:
        return {"sslmode": "disable"}
    parameters = {"sslmode": tls.mode.value}
    # libpq checks the chain against sslrootcert under require too, when the file exists: with no CA
    # given, require checks nothing.
    if tls.mode is not SslMode.REQUIRE or tls.ca_pem is not None:
        parameters["sslrootcert"] = ca_file(tls)
    return parameters


# libpq's words for each way TLS fails, and what they mean for the link's inputs. Names quoted by
# the server's certificate are not repeated: they are what another service on that port answered.
_LIBPQ_FAILURES = (
    (re.compile(r"server does not support SSL"),
     f"the server does not offer TLS, which {USE_SSL}=true requires"),
    (re.compile(r"certificate verify failed|signature failure|unable to get local issuer|self[- ]signed certificate"
                r"|certificate is not yet valid|certificate has expired"),
     "the server's TLS certificate is not trusted: {trust}"),
    (re.compile(r"does not match host name"),
     "the server's TLS certificate is not for the host name {host} (" + SSL_MODE + "=verify-ca checks the "
     "chain only)"),
    (re.compile(r"no encryption"),
     "{answer}: the server accepts TLS connections only; set " + USE_SSL + "=true"),
    # Any other failure of this machine's TLS library, in its own words.
    (re.compile(r"SSL error: (?P<detail>[^\n]+)"), "the TLS handshake failed: {detail}"),
)


def explain_failure(message: str, tls: Tls | None, host: str, answer: str | None) -> str | None:
    """What a TLS failure worded by libpq in ``message`` means; None: not a TLS failure."""
    if tls is None:
        trust = ""
    elif tls.ca_pem is None:
        trust = f"no CA of this system signed it (give the server's CA as {SSL_CA_CERT})"
    else:
        trust = f"the CA of {SSL_CA_CERT} did not sign it"
    for pattern, meaning in _LIBPQ_FAILURES:
        found = pattern.search(message)
        if found:
            return meaning.format(trust=trust, host=host, answer=answer or "the server refused the connection",
                                  detail=found.groupdict().get("detail", "").strip())
    return None
