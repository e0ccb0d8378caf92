"""Clusters and what the SDK asks about them: instances, datastores, flavors, availability zones, tags."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from opencdm.api.wire.common import Wire, named


class ClusterIn(Wire):
    name: str = Field(**named("The cluster's name"))
    model_config = ConfigDict(populate_by_name=True, extra="allow")


class CreateClusterRequest(Wire):
    cluster: ClusterIn


class ClusterActionRequest(Wire):
    """Exactly one of the three (the route checks it itself, for its own Cdm.0014 message)."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": [action]} for action in ("start", "stop", "restart")]}
    )
    start: dict[str, Any] | None = None
    stop: dict[str, Any] | None = None
    restart: dict[str, Any] | None = None


class Datastore(Wire):
    type: str = "cdm"
    version: str


class ClusterInstance(Wire):
    id: str
    name: str
    type: str = "cdm"
    status: str
    role: str = "cdm"
    is_frozen: str = Field(default="0", alias="isFrozen")


class ClusterOut(Wire):
    id: str
    name: str
    status: str
    status_detail: str = Field(alias="statusDetail")
    is_frozen: str = Field(default="0", alias="isFrozen")
    created: str
    updated: str
    datastore: Datastore
    instances: list[ClusterInstance]
    action_progress: dict[str, str] = Field(default_factory=dict, alias="actionProgress")
    actions: list[str] = Field(default_factory=list)
    flavor_name: str = Field(default="local", alias="flavorName")
    az_name: str = Field(default="local", alias="azName")
    public_endpoint: str | None = Field(default=None, alias="publicEndpoint")
    config_status: str = "In-Sync"
    is_auto_off: bool = Field(default=False, alias="isAutoOff")
    executor: str


class ClustersResponse(Wire):
    clusters: list[ClusterOut]


class ClusterCreated(Wire):
    name: str
    id: str
    datastore: Datastore
    instances: list[ClusterInstance]


class ClusterJobId(Wire):
    """DeleteCluster; ClusterAction ("restart" answers one id, "start" and "stop" a list of one)."""

    job_id: str | list[str] = Field(alias="jobId")


class FlavorRef(Wire):
    id: str


class InstanceOut(Wire):
    id: str
    name: str
    type: str
    role: str
    status: str
    cluster_id: str
    flavor: FlavorRef
    datastore: Datastore


class InstanceResponse(Wire):
    instance: InstanceOut


class DatastoreVersion(Wire):
    id: str
    name: str
    active: str
    image: str
    packages: str
    datastore: str
    links: list[Any]


class DatastoreOut(Wire):
    id: str
    name: str
    bigcluster_enable: bool = Field(alias="bigclusterEnable")
    default_version: str = Field(alias="defaultVersion")
    versions: list[DatastoreVersion]


class DatastoresResponse(Wire):
    datastores: list[DatastoreOut]


class Flavor(Wire):
    str_id: str
    name: str
    cpu: int
    ram: int
    typename: str
    region: str
    cluster_mode: str = Field(alias="clusterMode")
    status: str


class FlavorsVersion(Wire):
    id: str
    name: str
    flavors: list[Flavor]


class FlavorsResponse(Wire):
    id: str
    dbname: str
    versions: list[FlavorsVersion]


class NameValue(Wire):
    name: str
    value: str


class FlavorDetailResponse(Wire):
    name: str
    str_id: str
    flavor_detail: list[NameValue]


class AvailabilityZone(Wire):
    available_zone_id: str = Field(alias="availableZoneId")
    available_zone_name: str = Field(alias="availableZoneName")
    available_zone_code: str = Field(alias="availableZoneCode")
    az_status: str = Field(alias="azStatus")
    type: str
    tags: dict[str, Any]


class AvailabilityZonesResponse(Wire):
    region_id: str = Field(alias="regionId")
    default_az: str = Field(alias="defaultAZ")
    available_zones: list[AvailabilityZone] = Field(alias="availableZones")


class SysTag(Wire):
    key: str
    value: str


class ClusterSysTags(Wire):
    sys_tags: list[SysTag]


class ClusterTags(Wire):
    cluster_id: str
    sys_tags: list[SysTag]


class EnterpriseProjectsResponse(Wire):
    resources: list[ClusterTags]
