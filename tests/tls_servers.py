"""Database servers that demand TLS, started by the tests from the machine's own binaries.

One place builds them all (issue 23; the change-capture work reuses it): a test CA and its
certificates (``make_certificates``), PostgreSQL (``start_postgres``: ``initdb`` + ``pg_ctl``) and
MariaDB (``start_mariadb``: ``mariadb-install-db`` + ``mariadbd``), each on a spare loopback port
in a directory of its own, removed by ``stop``. Extra server settings go in as arguments
(``settings={"wal_level": "logical"}``, ``options=("--log-bin=...",)``) rather than new fixtures.

Run as root (containers, CI) the servers run as the ``postgres``/``mysql`` system user where one
exists (``initdb`` refuses root), and ``mariadbd`` is told ``--user``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opencdm.child_server import free_port

LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 60


class Missing(Exception):
    """A binary the servers need is not installed: the tests that need it are skipped (failed under CI)."""


# --- certificates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the test CA's certificate (PEM)
    server: KeyPair  # for 127.0.0.1 and localhost
    wrong_host: KeyPair  # valid, by the same CA, for another name only

    @property
    def ca_pem(self) -> str:
        return self.ca.read_text()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key_pair(directory: Path, stem: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey,
                    owner: pwd.struct_passwd | None) -> KeyPair:
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)  # PostgreSQL refuses a key others can read
    if owner is not None:
        for path in (cert_path, key_path):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    return KeyPair(cert_path, key_path)


def make_certificates(directory: Path, owner: pwd.struct_passwd | None = None) -> Certificates:
    """A CA, a server certificate for 127.0.0.1/localhost and one for ``wrong.host.invalid``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("OpenCDM test CA")).issuer_name(_name("OpenCDM test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def server_pair(stem: str, names: Sequence[x509.GeneralName]) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        first = names[0].value
        cert = (
            x509.CertificateBuilder().subject_name(_name(str(first))).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return _write_key_pair(directory, stem, cert, key, owner)

    ca_path = directory / "ca.crt"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    if owner is not None:
        os.chown(ca_path, owner.pw_uid, owner.pw_gid)
    return Certificates(
        ca=ca_path,
        server=server_pair("server", [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]),
        wrong_host=server_pair("wrong-host", [x509.DNSName("wrong.host.invalid")]),
    )


# --- shared machinery ---------------------------------------------------------------------------


def _binary(name: str, *candidates: str) -> str:
    found = shutil.which(name) or next((path for path in candidates if os.access(path, os.X_OK)), None)
    if found is None:
        raise Missing(f"{name} is not installed")
    return found


def _service_user(name: str) -> pwd.struct_passwd | None:
    """Who runs a server when the tests run as root: the system user made for it."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _private_directory(prefix: str, owner: pwd.struct_passwd | None) -> Path:
    # Not under pytest's basetemp: its parents may be closed to the service user.
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if owner is not None:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    return directory


def _run(command: Sequence[str], owner: pwd.struct_passwd | None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, user=owner.pw_uid if owner else None,
                          group=owner.pw_gid if owner else None, timeout=START_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")


def _wait_for(what: str, ready: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    text = log.read_text(errors="replace") if log.exists() else ""
    raise RuntimeError(f"{what} did not start: {text[-2000:]}")


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((LOOPBACK, port)) == 0


# --- PostgreSQL ---------------------------------------------------------------------------------


@dataclass
class PostgresServer:
    """A PostgreSQL instance that takes TLS connections only (``hostssl``; ``hostnossl`` rejected),
    trusting every user. ``log`` has each connection, with its TLS version and cipher."""

    port: int
    directory: Path
    certificates: Certificates
    owner: pwd.struct_passwd | None
    pg_ctl: str
    user: str = "postgres"
    database: str = "postgres"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def conninfo(self, **extra: str) -> str:
        """libpq parameters of a TLS connection trusting the test CA (``extra`` overrides)."""
        params = {"host": LOOPBACK, "port": str(self.port), "user": self.user, "dbname": self.database,
                  "sslmode": "verify-full", "sslrootcert": str(self.certificates.ca), **extra}
        return " ".join(f"{key}={value}" for key, value in params.items())

    def stop(self) -> None:
        subprocess.run([self.pg_ctl, "stop", "-D", str(self.data), "-m", "immediate", "-w"], capture_output=True,
                       user=self.owner.pw_uid if self.owner else None, check=False, timeout=START_TIMEOUT_SECONDS)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres(certificates: Certificates, key_pair: KeyPair | None = None,
                   settings: Mapping[str, str] | None = None) -> PostgresServer:
    """A new TLS-only PostgreSQL presenting ``key_pair`` (the 127.0.0.1 certificate by default).
    ``settings`` are further postgresql.conf settings (e.g. ``{"wal_level": "logical"}``)."""
    initdb = _binary("initdb", "/usr/local/bin/initdb")
    pg_ctl = _binary("pg_ctl", "/usr/local/bin/pg_ctl")
    owner = _service_user("postgres")
    if os.geteuid() == 0 and owner is None:
        raise Missing("initdb refuses to run as root and there is no postgres user to run it as")
    directory = _private_directory("opencdm-pg-tls-", owner)
    pair = key_pair or certificates.server
    server = PostgresServer(free_port(), directory, certificates, owner, pg_ctl)
    try:
        # Copies owned by the server's user: PostgreSQL refuses a key it does not own.
        local = make_local_copies(directory, pair, certificates.ca, owner)
        _run([initdb, "-D", str(server.data), "-A", "trust", "-U", server.user, "--no-sync", "-E", "UTF8"], owner)
        (server.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostnossl all all 0.0.0.0/0 reject\n"
            "hostnossl all all ::/0 reject\n"
            "hostssl all all 0.0.0.0/0 trust\n"
            "hostssl all all ::/0 trust\n"
        )
        conf = {
            "listen_addresses": f"'{LOOPBACK}'", "port": str(server.port),
            "unix_socket_directories": f"'{directory}'",
            "ssl": "on", "ssl_cert_file": f"'{local.cert}'", "ssl_key_file": f"'{local.key}'",
            "log_connections": "on", "fsync": "off", "max_connections": "40", "shared_buffers": "16MB",
            **(settings or {}),
        }
        with (server.data / "postgresql.conf").open("a") as handle:
            handle.writelines(f"{key} = {value}\n" for key, value in conf.items())
        _run([pg_ctl, "start", "-D", str(server.data), "-l", str(server.log), "-w",
              "-t", str(START_TIMEOUT_SECONDS)], owner)
        _wait_for("PostgreSQL", lambda: _accepts(server.port), server.log)
    except BaseException:
        server.stop()
        raise
    return server


def make_local_copies(directory: Path, pair: KeyPair, ca: Path, owner: pwd.struct_passwd | None) -> KeyPair:
    """``pair`` and the CA copied into ``directory``, owned by ``owner``, the key private."""
    copies = []
    for source in (pair.cert, pair.key, ca):
        target = directory / f"tls-{source.name}"
        shutil.copyfile(source, target)
        target.chmod(0o600 if source == pair.key else 0o644)
        if owner is not None:
            os.chown(target, owner.pw_uid, owner.pw_gid)
        copies.append(target)
    return KeyPair(copies[0], copies[1])


# --- MariaDB ------------------------------------------------------------------------------------


@dataclass
class MariaDbServer:
    """A MariaDB instance with ``require_secure_transport=ON``: TCP connections must use TLS.
    ``user`` (no password) may do anything, from anywhere."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    certificates: Certificates
    user: str = "opencdm"
    database: str = "test"

    @property
    def socket(self) -> Path:
        return self.directory / "mariadb.sock"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=START_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_mariadb(certificates: Certificates, options: Sequence[str] = ()) -> MariaDbServer:
    """A new MariaDB demanding TLS; ``options`` are further mariadbd options (e.g. ``--log-bin=...``,
    ``--binlog-format=ROW``)."""
    mariadbd = _binary("mariadbd", "/usr/sbin/mariadbd")
    install_db = _binary("mariadb-install-db", "/usr/bin/mariadb-install-db")
    owner = _service_user("mysql")
    directory = _private_directory("opencdm-mariadb-tls-", owner)
    port = free_port()
    local = make_local_copies(directory, certificates.server, certificates.ca, owner)
    ca = directory / f"tls-{certificates.ca.name}"
    data = directory / "data"
    run_as = ["--user=" + (owner.pw_name if owner else pwd.getpwuid(os.geteuid()).pw_name)]
    try:
        _run([install_db, "--no-defaults", f"--datadir={data}", *run_as, "--auth-root-authentication-method=socket",
              "--skip-test-db"], None)
        init = directory / "init.sql"
        init.write_text(
            "CREATE USER IF NOT EXISTS 'opencdm'@'%' IDENTIFIED BY '';\n"
            "GRANT ALL ON *.* TO 'opencdm'@'%' WITH GRANT OPTION;\n"
            "CREATE DATABASE IF NOT EXISTS test;\n"
        )
        if owner is not None:
            for path in (init, *data.rglob("*"), data):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        log = directory / "server.log"
        process = subprocess.Popen(
            [mariadbd, "--no-defaults", f"--datadir={data}", *run_as, f"--port={port}",
             f"--bind-address={LOOPBACK}", f"--socket={directory / 'mariadb.sock'}",
             f"--pid-file={directory / 'mariadb.pid'}", f"--log-error={log}", f"--init-file={init}",
             f"--ssl-cert={local.cert}", f"--ssl-key={local.key}", f"--ssl-ca={ca}",
             "--require-secure-transport=ON", "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
             "--innodb-log-file-size=8M", "--skip-log-bin", *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    server = MariaDbServer(port, directory, process, certificates)
    try:
        _wait_for("MariaDB", lambda: process.poll() is not None or _accepts(port), log)
        if process.poll() is not None:
            raise RuntimeError(f"MariaDB exited: {log.read_text(errors='replace')[-2000:]}")
    except BaseException:
        server.stop()
        raise
    return server
