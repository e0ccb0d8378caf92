"""obs-connector and thirdparty-obs-connector: any S3-compatible object storage (OBS, MinIO, AWS S3, …).

Both speak the S3 protocol through ``pyarrow.fs.S3FileSystem``; the job names the bucket.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import BinaryIO

import pyarrow.fs as pafs

from opencdm.connectors.base import ConfigGroup, Connector, InputSpec, Sink, Source
from opencdm.connectors.files.binary import carried_as_is, open_file_source
from opencdm.connectors.files.config import (
    SINK_UNUSED,
    SOURCE_UNUSED,
    FileFilter,
    SinkConfig,
    SourceConfig,
    sink_input_names,
    sink_table_job,
    source_input_names,
)
from opencdm.connectors.files.s3 import CREDENTIAL_ERRORS, S3Endpoint, endpoint_inputs
from opencdm.connectors.files.sink import FileSink
from opencdm.connectors.files.tree import FileTree, FoundFile
from opencdm.connectors.inputs import text
from opencdm.errors import CdmError


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
        if any(marker in message for marker in CREDENTIAL_ERRORS):
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

    def table_job(self, group: ConfigGroup, job: Mapping[str, str], table: str, prepared: bool) -> dict[str, str]:
        if group == "fromJobConfig":
            return super().table_job(group, job, table, prepared)
        return sink_table_job(job, table)

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
