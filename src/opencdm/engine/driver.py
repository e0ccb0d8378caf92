"""The driver-config-values a run acts on: how many extractors, the run's clock, its check, its dirty
data, whether it resumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opencdm.config_values import flatten
from opencdm.connectors.inputs import boolean, ignored, integer, text
from opencdm.engine.verify import VerifyMode
from opencdm.errors import CdmError

# Driver inputs CDM documents (docs/cdm-api.md §7.7) that mean nothing here: accepted, and noted in
# each run's log when given a value that asks for something (see opencdm.connectors.inputs.Unused).
DRIVER_UNUSED = (
    ignored("throttlingConfig.numLoaders", "loaders are for HBase and Hive destinations; here each extractor "
            "writes the rows it reads.", ("", "1")),
    ignored("throttlingConfig.submitToCluster", "CDM documents no meaning for it (it appears only in CDM's "
            "samples)."),
)


@dataclass(frozen=True)
class DriverConfig:
    """The driver-config-values this version acts on."""

    num_extractors: int
    group_name: str
    # Where a run's clock is read for macros (our extension; CDM uses its cluster's time zone).
    time_zone: ZoneInfo | None
    # How a run checks its copy (our extension, verifyConfig.mode).
    verify_mode: VerifyMode
    # Dirty data: rows a destination refuses are left out, up to this many per partition (None: the
    # first one fails the run), and recorded when record_dirty_data (see engine.dirty).
    max_error_records: int | None = None
    record_dirty_data: bool = False
    dirty_data_link: str | None = None
    dirty_data_bucket: str | None = None
    dirty_data_directory: str | None = None
    # Partitions commit one by one, and a run after a failed one copies only those not committed.
    resumable: bool = False

    @classmethod
    def parse(cls, driver_config: dict[str, Any]) -> DriverConfig:
        values = flatten(driver_config)
        raw = values.get("throttlingConfig.numExtractors", "1") or "1"
        if not raw.isdigit() or not 1 <= int(raw) <= 300:
            raise CdmError(
                "Cdm.0024", f"[throttlingConfig.numExtractors] must be within the range [1, 300], got '{raw}'."
            )
        return cls(
            num_extractors=int(raw),
            group_name=values.get("groupJobConfig.groupName") or "DEFAULT",
            time_zone=time_zone(values),
            verify_mode=_verify_mode(values),
            max_error_records=integer(values, "throttlingConfig.maxErrorRecords") or None,
            record_dirty_data=boolean(values, "throttlingConfig.recordDirtyData"),
            dirty_data_link=text(values, "throttlingConfig.writeToLink"),
            dirty_data_bucket=text(values, "throttlingConfig.obsBucket"),
            dirty_data_directory=text(values, "throttlingConfig.dirtyDataDirectory"),
            resumable=boolean(values, "throttlingConfig.resumable"),
        )


def _verify_mode(values: dict[str, str]) -> VerifyMode:
    raw = (values.get("verifyConfig.mode") or VerifyMode.COUNT.value).strip().upper()
    try:
        return VerifyMode(raw)
    except ValueError:
        allowed = ", ".join(mode.value for mode in VerifyMode)
        raise CdmError(
            "Cdm.0014", f"The parameter is invalid: verifyConfig.mode [{raw}] must be one of {allowed}."
        ) from None


def time_zone(values: dict[str, str]) -> ZoneInfo | None:
    zone_name = values.get("schedulerConfig.timeZone") or None
    try:
        return ZoneInfo(zone_name) if zone_name else None
    except (ZoneInfoNotFoundError, ValueError):
        raise CdmError(
            "Cdm.0014", f"schedulerConfig.timeZone '{zone_name}' is not a time zone name (e.g. Asia/Shanghai)."
        ) from None
