"""An S3-compatible endpoint (OBS, MinIO, AWS S3, …) as a link names it, and its ``pyarrow`` client.

Shared by the OBS connectors, DuckDB's Parquet copy and Iceberg warehouses on S3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow.fs as pafs

from opencdm.connectors.base import InputSpec
from opencdm.connectors.inputs import boolean, required, tcp_port, text
from opencdm.connectors.outbound import check_endpoint
from opencdm.errors import CdmError
from opencdm.settings import Settings

# Seconds a request of a run may wait for an answer; making the connection gets OPENCDM_CONNECT_TIMEOUT,
# and a link's validation waits for nothing longer than that.
REQUEST_SECONDS = 60
# Errors S3 reports for credentials it does not accept, as pyarrow names them.
CREDENTIAL_ERRORS = (
    "SIGNATURE_DOES_NOT_MATCH",
    "INVALID_ACCESS_KEY_ID",
    "ACCESS_DENIED",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
)


@dataclass(frozen=True)
class S3Endpoint:
    """An S3-compatible endpoint as a link's inputs (``endpoint_inputs``) name it, checked."""

    host: str  # host name, ":port" added when the link gives one
    scheme: str  # http or https
    path_style: bool
    region: str | None
    access_key: str
    secret_key: str = field(repr=False)

    @classmethod
    def parse(cls, link: Mapping[str, str]) -> S3Endpoint:
        server = required(link, "linkConfig.server")
        if "/" in server:
            raise CdmError(
                "Cdm.0014",
                f"The parameter is invalid: linkConfig.server [{server}] must be a host name, without "
                "scheme or path (use linkConfig.protocol for http).",
            )
        protocol = (text(link, "linkConfig.protocol") or "https").lower()
        if protocol not in ("http", "https"):
            raise CdmError(
                "Cdm.0014", f"The parameter is invalid: linkConfig.protocol [{protocol}] must be https or http."
            )
        port = tcp_port(link, "linkConfig.port")
        check_endpoint("linkConfig.server", server.rsplit(":", 1)[0] if server.count(":") == 1 else server)
        return cls(
            host=f"{server}:{port}" if port else server,
            scheme=protocol,
            path_style=boolean(link, "linkConfig.pathStyle") if text(link, "linkConfig.pathStyle") else True,
            region=text(link, "linkConfig.region"),
            access_key=required(link, "linkConfig.accessKey"),
            secret_key=required(link, "linkConfig.securityKey"),
        )

    @property
    def address(self) -> str:
        """host:port, for messages."""
        return self.host if ":" in self.host else f"{self.host}:{443 if self.scheme == 'https' else 80}"

    def filesystem(self, validating: bool = False) -> pafs.S3FileSystem:
        """``validating``: for a link's validation, which waits for no answer longer than for the
        connection, and tries once."""
        connect = Settings.from_env().connect_timeout_seconds
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=self.host,
            scheme=self.scheme,
            force_virtual_addressing=not self.path_style,
            connect_timeout=connect,
            request_timeout=connect if validating else REQUEST_SECONDS,
            **({"retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=1)} if validating else {}),
            **({"region": self.region} if self.region else {}),
        )

    def validation_error(self, exc: OSError) -> CdmError:
        """A failed validation request as Cdm.0800: refused keys say so; anything else is only
        ``cannot connect to host:port``, never what another kind of service answered there."""
        message = str(exc)
        if any(marker in message for marker in CREDENTIAL_ERRORS):
            return CdmError(
                "Cdm.0800",
                f"Cannot connect to the OBS server: the access key or secret key was refused ({message}).",
            )
        return CdmError("Cdm.0800", f"Cannot connect to the OBS server: cannot connect to {self.address}.")


def endpoint_inputs(mandatory: bool) -> tuple[InputSpec, ...]:
    """The link inputs of an S3-compatible endpoint (``filesystem`` reads them); ``mandatory`` where
    the link always names one."""
    return (
        InputSpec("linkConfig.server", mandatory=mandatory, size=256),
        InputSpec("linkConfig.port", size=5),
        InputSpec("linkConfig.accessKey", mandatory=mandatory, size=256),
        InputSpec("linkConfig.securityKey", mandatory=mandatory, sensitive=True, size=256),
        InputSpec("linkConfig.protocol", "ENUM", default="https"),
        InputSpec("linkConfig.pathStyle", "BOOLEAN", default="true"),
        InputSpec("linkConfig.region", size=64),
    )
