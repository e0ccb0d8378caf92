"""OpenCDM's own API over HTTPS (docs/tls.md): ``opencdm serve --ssl-certfile/--ssl-keyfile`` with a
certificate for 127.0.0.1 and localhost signed by a CA made here, then the official SDK, the CLI and a
browser through it, each trusting that CA and nothing else; plain HTTP to that port is hung up on at
once; a server given half a pair, or files it cannot read, refuses to start.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import RunningServer, sqlite_link, start_server


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    certfile: Path
    keyfile: Path
    # base64 of the SHA-256 of the server certificate's public key (SPKI): how Chromium pins one certificate.
    spki_sha256: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> Certificates:
    """A CA, and a server certificate it signed for 127.0.0.1 and localhost, as PEM files in ``directory``."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("OpenCDM test CA")).issuer_name(_name("OpenCDM test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
        .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(
        directory / "ca.pem", directory / "server.pem", directory / "server-key.pem",
        base64.b64encode(hashlib.sha256(server.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()).decode(),
    )
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.certfile.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.keyfile.write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    files.keyfile.chmod(0o600)
    return files


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates) -> Iterator[RunningServer]:
    """A server of its own serving HTTPS; the cert comes from the environment, as an operator's unit would
    set it (the command-line options are used by test_command_line_options_serve_https)."""
    running = start_server(tmp_path_factory.mktemp("https-home"), ca_file=certificates.ca_file, env={
        "OPENCDM_SSL_CERTFILE": str(certificates.certfile), "OPENCDM_SSL_KEYFILE": str(certificates.keyfile)})
    yield running
    running.stop()


def test_api_metrics_and_console_on_one_https_port(https_server: RunningServer) -> None:
    assert https_server.url.startswith("https://127.0.0.1:")
    assert f"OpenCDM API on {https_server.url}, web console at {https_server.url}/console/" in https_server.log()
    with https_server.client() as api:
        assert api.get(f"/v1.1/{https_server.project_id}/clusters").json()["clusters"][0]["id"] == \
            https_server.cluster_id
        assert "opencdm_" in api.get("/metrics").text
        console = api.get("/console/")
        assert console.status_code == 200 and "<html" in console.text.lower()


def test_plain_http_to_the_https_port_is_hung_up_on_at_once(https_server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", https_server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /v1.1/x/clusters HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(4096) == b""  # closed without an answer, not left waiting
    assert time.monotonic() - started < 2
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"http://127.0.0.1:{https_server.port}/openapi.json", timeout=5)


def test_a_client_that_does_not_trust_the_ca_is_refused(https_server: RunningServer) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https_server.url}/openapi.json", timeout=5)


def _cli(server: RunningServer, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``opencdm`` as a user on another machine runs it: credentials from the environment, no home."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "opencdm", *args], capture_output=True, text=True, timeout=60,
        env={**inherited, "OPENCDM_HOME": str(server.home / "elsewhere"), "OPENCDM_URL": server.url,
             "OPENCDM_USER": server.credentials["user"], "OPENCDM_PASSWORD": server.credentials["password"],
             "OPENCDM_PROJECT_ID": server.project_id, **environment},
    )


def test_cli_over_https_with_the_ca(https_server: RunningServer, certificates: Certificates) -> None:
    by_option = _cli(https_server, "cluster", "list", "--json", "--ca-file", str(certificates.ca_file))
    assert by_option.returncode == 0, by_option.stderr
    assert https_server.cluster_id in by_option.stdout
    by_variable = _cli(https_server, "link", "list", "--json", OPENCDM_CA_FILE=str(certificates.ca_file))
    assert by_variable.returncode == 0, by_variable.stderr
    # OpenSSL's own variable, as for any program on the machine: it replaces the system's CAs.
    by_openssl = _cli(https_server, "link", "list", SSL_CERT_FILE=str(certificates.ca_file))
    assert by_openssl.returncode == 0, by_openssl.stderr
    # The certificate names localhost too.
    by_name = _cli(https_server, "cluster", "list", "--ca-file", str(certificates.ca_file),
                   OPENCDM_URL=https_server.url.replace("127.0.0.1", "localhost"))
    assert by_name.returncode == 0, by_name.stderr


def test_cli_without_the_ca_fails_with_a_certificate_error(https_server: RunningServer, tmp_path: Path) -> None:
    refused = _cli(https_server, "link", "list")
    assert refused.returncode == 1
    assert f"OpenCDM at {https_server.url} failed the certificate check against the system's CAs" in refused.stderr
    assert "--ca-file or OPENCDM_CA_FILE" in refused.stderr
    missing = _cli(https_server, "link", "list", "--ca-file", str(tmp_path / "none.pem"))
    assert missing.returncode == 1 and f"Cannot use the CA file {tmp_path / 'none.pem'}" in missing.stderr
    plain = _cli(https_server, "link", "list", OPENCDM_URL=https_server.url.replace("https:", "http:"))
    assert plain.returncode == 1 and "is the URL https://?" in plain.stderr


def test_official_sdk_over_https_with_its_ca_setting(https_server: RunningServer, certificates: Certificates,
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Importing the SDK writes ~/.huaweicloud/application_id: not into the real home.
    monkeypatch.setenv("HOME", str(tmp_path / "sdk-home"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    from huaweicloudsdkcdm import v1
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.exceptions.exceptions import SdkException
    from huaweicloudsdkcore.http.http_config import HttpConfig

    def sdk_client(ca_file: Path | None) -> Any:
        config = HttpConfig.get_default_config()
        config.timeout = (10, 30)
        config.ssl_ca_cert = str(ca_file) if ca_file else None
        credentials = BasicCredentials(https_server.credentials["access_key"], https_server.credentials["secret_key"],
                                       https_server.project_id)
        return (v1.CdmClient.new_builder().with_http_config(config).with_credentials(credentials)
                .with_endpoint(https_server.url).build())

    sdk = sdk_client(certificates.ca_file)
    clusters = sdk.list_clusters(v1.ListClustersRequest()).clusters
    assert [cluster.id for cluster in clusters] == [https_server.cluster_id]
    name = f"l_{uuid.uuid4().hex[:10]}"
    inputs = [v1.Input(name=key, value=value) for key, value in sqlite_link(str(tmp_path / "l.db")).items()]
    sdk.create_link(v1.CreateLinkRequest(cluster_id=https_server.cluster_id, body=v1.CdmCreateAndUpdateLinkReq(
        links=[v1.Links(name=name, connector_name="generic-jdbc-connector", enabled=True,
                        link_config_values=v1.LinksLinkconfigvalues(configs=[
                            v1.Configs(name="linkConfig", inputs=inputs)]))])))
    shown = sdk.show_link(v1.ShowLinkRequest(cluster_id=https_server.cluster_id, link_name=name))
    assert [link.name for link in shown.links] == [name]
    # Without its CA setting, the SDK trusts only the public CAs (certifi): the test CA is refused.
    with pytest.raises(SdkException, match="CERTIFICATE_VERIFY_FAILED"):
        sdk_client(None).list_clusters(v1.ListClustersRequest())


def test_command_line_options_serve_https(tmp_path: Path, certificates: Certificates) -> None:
    running = start_server(tmp_path / "home", ca_file=certificates.ca_file, options=(
        "--ssl-certfile", str(certificates.certfile), "--ssl-keyfile", str(certificates.keyfile)))
    try:
        with running.client() as api:  # the token, then a request with it: both over HTTPS
            assert api.get(f"/v1.1/{running.project_id}/clusters").status_code == 200
        assert f"OpenCDM API on {running.url}" in running.log()
    finally:
        running.stop()


def _serve(home: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("OPENCDM_SSL_")}
    return subprocess.run(
        [sys.executable, "-m", "opencdm", "serve", "--port", "1", *args], capture_output=True, text=True,
        timeout=60, env={**inherited, "OPENCDM_HOME": str(home), **environment},
    )


def test_half_a_pair_or_unreadable_files_refuse_to_start(tmp_path: Path, certificates: Certificates) -> None:
    only_cert = _serve(tmp_path / "a", "--ssl-certfile", str(certificates.certfile))
    assert only_cert.returncode == 1
    assert "HTTPS needs a certificate and its key, and only the certificate was given" in only_cert.stderr
    only_key = _serve(tmp_path / "b", OPENCDM_SSL_KEYFILE=str(certificates.keyfile))
    assert only_key.returncode == 1 and "only the key was given" in only_key.stderr
    missing = _serve(tmp_path / "c", "--ssl-certfile", str(certificates.certfile),
                     "--ssl-keyfile", str(tmp_path / "none.pem"))
    assert missing.returncode == 1
    assert f"Cannot read the HTTPS file {tmp_path / 'none.pem'}: No such file or directory" in missing.stderr
    swapped = _serve(tmp_path / "d", "--ssl-certfile", str(certificates.ca_file),
                     "--ssl-keyfile", str(certificates.keyfile))
    assert swapped.returncode == 1 and "are not a PEM certificate and its private key" in swapped.stderr
    # Refused before anything was bootstrapped: no credentials were made for a server that never ran.
    assert not any((tmp_path / home / "credentials.json").exists() for home in "abcd")


def test_browser_signs_in_to_the_console_over_https(https_server: RunningServer,
                                                    certificates: Certificates) -> None:
    """Debian's Chromium trusts the server's certificate by its public key (and nothing else is relaxed):
    what an operator does with their CA in the system store, without touching the test machine's."""
    from console.test_console import CHROMIUM, CHROMIUM_ARGS, _unavailable, sign_in

    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium (Debian's) for the console tests")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install -e '.[test]' for the console tests")
    credentials = https_server.credentials
    with sync_playwright() as playwright:
        for trusted in (False, True):
            pinned = [f"--ignore-certificate-errors-spki-list={certificates.spki_sha256}"] if trusted else []
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=[*CHROMIUM_ARGS, *pinned])
            try:
                page = browser.new_page()
                if not trusted:
                    with pytest.raises(Exception, match="ERR_CERT_AUTHORITY_INVALID"):
                        page.goto(f"{https_server.url}/console/")
                    continue
                sign_in(page, https_server.url, credentials["user"], credentials["password"],
                        credentials["project_id"])
                expect(page.locator("#who")).to_contain_text(credentials["user"], timeout=15_000)
                assert page.url.startswith("https://")
            finally:
                browser.close()
