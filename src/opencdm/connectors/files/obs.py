"""obs-connector and thirdparty-obs-connector: any S3-compatible object storage (OBS, MinIO, AWS S3, …).

Both speak the S3 protocol through ``pyarrow.fs.S3FileSystem``; the job names the bucket.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

import pyarrow.fs as pafs

from opencdm.connectors.base import Connector, InputSpec, Sink, Source
from opencdm.connectors.files.binary import carried_as_is, open_file_source
from opencdm.connectors.files.config import (
    SINK_UNUSED,
    SOURCE_UNUSED,
    FileFilter,
    SinkConfig,
    SourceConfig,
    sink_input_names,
    source_input_names,
)
from opencdm.connectors.files.sink import FileSink
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.connectors.inputs import boolean, required, tcp_port, text
from opencdm.connectors.outbound import check_endpoint
from opencdm.errors import CdmError
from opencdm.settings import Settings

# Seconds a request of a run may wait for an answer; making the connection gets OPENCDM_CONNECT_TIMEOUT,
# and a link's validation waits for nothing longer than that.
REQUEST_SECONDS = 60
# Errors S3 reports for credentials it does not accept, as pyarrow names them.
_CREDENTIAL_ERRORS = (
    "SIGNATURE_DOES_NOT_MATCH",
    "INVALID_ACCESS_KEY_ID",
    "ACCESS_DENIED",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
)


class BucketTree(FileTree):
    """Keys of one bucket; a job path is a key prefix (a leading "/" is ignored)."""

    def __init__(self, endpoint: S3Endpoint, bucket: str) -> None:
        super().__init__(endpoint.filesystem(), bucket)
        self.bucket = bucket
        self.endpoint = endpoint

    def s3_endpoint(self) -> S3Endpoint:
        return self.endpoint

    def path(self, relative: str) -> str:
        key = posixpath.normpath("/" + relative).lstrip("/")
        return f"{self.bucket}/{key}" if key else self.bucket

    def show(self, path: str) -> str:
        return f"obs://{path}"

    def error(self, exc: OSError, what: str, code: str = "Cdm.0416") -> CdmError:
        message = str(exc)
        if "NO_SUCH_BUCKET" in message or "NoSuchBucket" in message:
            return CdmError("Cdm.0801", f"OBS bucket [{self.bucket}] does not exist.")
        if any(marker in message for marker in _CREDENTIAL_ERRORS):
            return CdmError(
                "Cdm.0800",
                f"Cannot connect to the OBS server: access to bucket [{self.bucket}] was refused "
                f"(check linkConfig.accessKey and linkConfig.securityKey): {message}",
            )
        return super().error(exc, what, code)

    def list_files(self, relative_paths: tuple[str, ...], file_filter: FileFilter, skip: str | None) -> list[FoundFile]:
        # A missing bucket looks like a missing path to pyarrow; say which it is.
        self.check_bucket()
        return super().list_files(relative_paths, file_filter, skip)

    def check_bucket(self) -> None:
        try:
            found = self.filesystem.get_file_info(self.bucket)
        except OSError as exc:
            raise self.error(exc, f"reach bucket [{self.bucket}]", "Cdm.0800") from exc
        if found.type == pafs.FileType.NotFound:
            raise CdmError("Cdm.0801", f"OBS bucket [{self.bucket}] does not exist.")

    def make_directory(self, path: str) -> None:
        # S3 has no directories: keys with the prefix make one. The bucket must exist, though.
        self.check_bucket()


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
        if any(marker in message for marker in _CREDENTIAL_ERRORS):
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


class ObsConnector(Connector):
    name = "obs-connector"
    # Files are numbered in the order one writer writes them: a resumed run would number anew.
    commits_partitions_alone = False
    storage_types: tuple[str, ...] = ("OBS", "S3")
    link_inputs = (InputSpec("linkConfig.storageType", "ENUM", default="OBS"), *endpoint_inputs(mandatory=True))
    source_inputs = source_input_names(with_bucket=True)
    sink_inputs = sink_input_names(with_bucket=True)
    unused_inputs = (*SOURCE_UNUSED, *SINK_UNUSED)

    def check_link_inputs(self, link: Mapping[str, str]) -> None:
        storage = (text(link, "linkConfig.storageType") or self.storage_types[0]).upper()
        if storage not in self.storage_types:
            raise CdmError(
                "Cdm.0014",
                f"The parameter is invalid: linkConfig.storageType [{storage}] must be "
                f"{' or '.join(self.storage_types)} for {self.name}.",
            )
        S3Endpoint.parse(link)

    def validate_link(self, link: Mapping[str, str]) -> None:
        self.check_link_inputs(link)
        endpoint = S3Endpoint.parse(link)
        try:
            endpoint.filesystem(validating=True).get_file_info(pafs.FileSelector("", recursive=False))
        except OSError as exc:
            raise endpoint.validation_error(exc) from exc

    def check_from_job(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> None:
        SourceConfig.parse(from_job, with_bucket=True)

    def check_to_job(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> None:
        SinkConfig.parse(to_job, with_bucket=True)

    def carries_as_is(self, job: Mapping[str, str]) -> str | None:
        return carried_as_is(job)

    def open_source(self, link: Mapping[str, str], from_job: Mapping[str, str]) -> Source:
        config = SourceConfig.parse(from_job, with_bucket=True)
        assert config.bucket is not None
        return open_file_source(BucketTree(S3Endpoint.parse(link), config.bucket), config)

    def open_sink(self, link: Mapping[str, str], to_job: Mapping[str, str]) -> Sink:
        config = SinkConfig.parse(to_job, with_bucket=True)
        assert config.bucket is not None
        return FileSink(BucketTree(S3Endpoint.parse(link), config.bucket), config)

    def check_output(self, link: Mapping[str, str], bucket: str | None, path: str) -> None:
        if not bucket:
            raise CdmError(
                "Cdm.0238", f"throttlingConfig.obsBucket cannot be empty: files on a {self.name} link need a bucket."
            )

    def open_output(self, link: Mapping[str, str], bucket: str | None, path: str) -> BinaryIO:
        self.check_output(link, bucket, path)
        assert bucket is not None
        stream: BinaryIO = BucketTree(S3Endpoint.parse(link), bucket).open_new(path)
        return stream


class ThirdPartyObsConnector(ObsConnector):
    """CDM's connector for other vendors' object storage; here only ``storageType=S3``."""

    name = "thirdparty-obs-connector"
    storage_types = ("S3",)
    link_inputs = (
        InputSpec("linkConfig.storageType", "ENUM", mandatory=True, default="S3"),
        *endpoint_inputs(mandatory=True),
    )
