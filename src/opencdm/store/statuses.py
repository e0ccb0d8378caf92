"""The cluster status codes CDM puts on the wire as strings (docs/cdm-api.md §8), kept in the store
as such: one name for each code, instead of "200" retyped wherever a cluster is checked."""

from __future__ import annotations

from enum import StrEnum


class ClusterStatus(StrEnum):
    CREATING = "100"
    NORMAL = "200"
    FAILED = "300"
    RESTARTING = "500"
    STOPPED = "900"
    STOPPING = "910"
    STARTING = "920"
