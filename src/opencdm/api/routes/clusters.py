"""Clusters (logical execution pools) and the catalogue endpoints, answered for this deployment."""

from __future__ import annotations

import os
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body

from opencdm import __version__
from opencdm.api.errors import V11_ERROR_RESPONSES
from opencdm.api.present import cluster_out
from opencdm.api.routes.common import Caller, State, check_cluster, cluster_session
from opencdm.api.wire.clusters import (
    AvailabilityZonesResponse,
    ClusterCreated,
    ClusterJobId,
    ClusterOut,
    ClustersResponse,
    ClusterSysTags,
    CreateClusterRequest,
    DatastoresResponse,
    EnterpriseProjectsResponse,
    FlavorDetailResponse,
    FlavorsResponse,
    InstanceResponse,
)
from opencdm.api.wire.common import Empty
from opencdm.errors import CdmError
from opencdm.service import clusters as cluster_service
from opencdm.service import iam
from opencdm.store.models import Project

router = APIRouter(prefix="/v1.1/{project_id}", tags=["clusters"], responses=V11_ERROR_RESPONSES)

DATASTORE_ID = "opencdm"
FLAVOR_ID = "local"
REGION = "local"


@router.get("/clusters", operation_id="ListClusters", response_model=None,
            responses={200: {"model": ClustersResponse}})
def list_clusters(project_id: str, caller: Caller, state: State) -> dict[str, Any]:
    with state.store.session() as session:
        clusters = cluster_service.list_clusters(session, caller.project_id)
    return ClustersResponse(clusters=[cluster_out(c) for c in clusters]).dump()


@router.post("/clusters", status_code=202, operation_id="CreateCluster", response_model=None,
             responses={202: {"model": ClusterCreated}})
def create_cluster(project_id: str, body: CreateClusterRequest, caller: Caller,
                   state: State) -> dict[str, Any]:
    with state.store.session() as session:
        project = session.get(Project, caller.project_id)
        assert project is not None
        cluster_service.check_new_name(session, project.id, body.cluster.name)
        cluster = iam.create_cluster(session, project, body.cluster.name)
    shown = cluster_out(cluster)
    return {"name": cluster.name, "id": cluster.id, "datastore": shown.datastore.dump(),
            "instances": [i.dump() for i in shown.instances]}


@router.get("/clusters/{cluster_id}", operation_id="ShowClusterDetail", response_model=None,
            responses={200: {"model": ClusterOut}})
def show_cluster(project_id: str, cluster_id: str, caller: Caller, state: State) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (_, cluster):
        return cluster_out(cluster).dump()


@router.delete("/clusters/{cluster_id}", status_code=202, operation_id="DeleteCluster", response_model=None,
               responses={202: {"model": ClusterJobId}})
def delete_cluster(project_id: str, cluster_id: str, caller: Caller, state: State,
                   body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        cluster_service.delete_cluster(session, cluster)
    return {"jobId": uuid.uuid4().hex}


@router.post("/cluster/modify/{cluster_id}", operation_id="ModifyCluster", response_model=None,
             responses={200: {"model": Empty}})
def modify_cluster(project_id: str, cluster_id: str, caller: Caller, state: State,
                   body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    with cluster_session(state, caller, cluster_id) as (session, cluster):
        cluster_service.modify_cluster(session, cluster, body or {})
    return {}


@router.post("/clusters/{cluster_id}/action", operation_id="ClusterAction", response_model=None,
             responses={200: {"model": ClusterJobId}})
def cluster_action(project_id: str, cluster_id: str, caller: Caller, state: State,
                   body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    actions = [key for key in ("start", "stop", "restart") if key in body]
    if len(actions) != 1:
        raise CdmError("Cdm.0014", "The body must hold exactly one of 'start', 'stop' or 'restart'.")
    check_cluster(state, caller, cluster_id)
    cluster_service.act(state.store, state.supervisor, cluster_id, actions[0])
    job_id = uuid.uuid4().hex
    return {"jobId": job_id if actions[0] == "restart" else [job_id]}


@router.get("/instances/{instance_id}", operation_id="ShowInstanceDetail", response_model=None,
            responses={200: {"model": InstanceResponse}})
def show_instance(project_id: str, instance_id: str, caller: Caller, state: State) -> dict[str, Any]:
    with cluster_session(state, caller, instance_id) as (_, cluster):
        return {"instance": {
            "id": cluster.id, "name": cluster.name, "type": "cdm", "role": "cdm", "status": cluster.status,
            "cluster_id": cluster.id, "flavor": {"id": FLAVOR_ID},
            "datastore": {"type": "cdm", "version": __version__},
        }}


def _flavor() -> dict[str, Any]:
    ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30
    return {"str_id": FLAVOR_ID, "name": "local", "cpu": os.cpu_count() or 1, "ram": ram_gib,
            "typename": "local process pool", "region": REGION, "clusterMode": "single-node", "status": "normal"}


@router.get("/datastores", operation_id="ShowDatastores", response_model=None,
            responses={200: {"model": DatastoresResponse}})
def show_datastores(project_id: str, caller: Caller) -> dict[str, Any]:
    version = {"id": __version__, "name": __version__, "active": "true", "image": "opencdm",
               "packages": "opencdm", "datastore": DATASTORE_ID, "links": []}
    return {"datastores": [{"id": DATASTORE_ID, "name": "cdm", "bigclusterEnable": False,
                            "defaultVersion": __version__, "versions": [version]}]}


@router.get("/datastores/{datastore_id}/flavors", operation_id="ShowFlavors", response_model=None,
            responses={200: {"model": FlavorsResponse}})
def show_flavors(project_id: str, datastore_id: str, caller: Caller) -> dict[str, Any]:
    if datastore_id != DATASTORE_ID:
        raise CdmError("Cdm.0001", f"Datastore [{datastore_id}] does not exist; this deployment has '{DATASTORE_ID}'.")
    return {"id": DATASTORE_ID, "dbname": "cdm",
            "versions": [{"id": __version__, "name": __version__, "flavors": [_flavor()]}]}


@router.get("/flavors/{flavor_id}", operation_id="ShowFlavorDetail", response_model=None,
            responses={200: {"model": FlavorDetailResponse}})
def show_flavor_detail(project_id: str, flavor_id: str, caller: Caller) -> dict[str, Any]:
    if flavor_id != FLAVOR_ID:
        raise CdmError("Cdm.0001", f"Flavor [{flavor_id}] does not exist; this deployment has '{FLAVOR_ID}'.")
    flavor = _flavor()
    return {"name": flavor["name"], "str_id": FLAVOR_ID,
            "flavor_detail": [{"name": "cpu", "value": str(flavor["cpu"])},
                              {"name": "ram", "value": str(flavor["ram"])}]}


@router.get("/regions/{region_id}/availability_zones", operation_id="ShowAvailabilityZones", response_model=None,
            responses={200: {"model": AvailabilityZonesResponse}})
def show_availability_zones(project_id: str, region_id: str, caller: Caller) -> dict[str, Any]:
    return {"regionId": region_id, "defaultAZ": REGION, "availableZones": [
        {"availableZoneId": REGION, "availableZoneName": REGION, "availableZoneCode": REGION,
         "azStatus": "normal", "type": "local", "tags": {}}]}


@router.get("/enterprise-projects", operation_id="ShowEnterpriseProjects", response_model=None,
            responses={200: {"model": EnterpriseProjectsResponse}})
def show_enterprise_projects(project_id: str, caller: Caller, state: State) -> dict[str, Any]:
    with state.store.session() as session:
        clusters = cluster_service.list_clusters(session, caller.project_id)
    return {"resources": [{"cluster_id": c.id, "sys_tags": [{"key": "_sys_enterprise_project_id", "value": "0"}]}
                          for c in clusters]}


@router.get("/clusters/{cluster_id}/enterprise-projects", operation_id="ShowClusterEnterpriseProjects",
            response_model=None, responses={200: {"model": ClusterSysTags}})
def show_cluster_enterprise_projects(project_id: str, cluster_id: str, caller: Caller,
                                     state: State) -> dict[str, Any]:
    check_cluster(state, caller, cluster_id)
    return {"sys_tags": [{"key": "_sys_enterprise_project_id", "value": "0"}]}


