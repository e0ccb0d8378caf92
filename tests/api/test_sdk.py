"""The official Python SDK (huaweicloudsdkcdm) against a real server: AK/SK signing, the token-only
recipe of docs/cdm-api.md §4.4, error mapping (§9), clusters and the catalogue. Link/job flows through
the SDK are in tests/e2e."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conftest import RunningServer, sqlite_link
from helpers import create_tenant


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The SDK's modules, imported with HOME in a scratch folder: importing it writes
    ~/.huaweicloud/application_id, which must not land in the real home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(tmp_path_factory.mktemp("sdk-home")))
        # Requests honours proxy variables; the server is on loopback.
        patch.setenv("NO_PROXY", "127.0.0.1,localhost")
        from huaweicloudsdkcdm import v1
        from huaweicloudsdkcore.auth import credentials
        from huaweicloudsdkcore.exceptions import exceptions
        from huaweicloudsdkcore.http.http_config import HttpConfig
        from huaweicloudsdkcore.signer.signer import Signer

        yield SimpleNamespace(v1=v1, credentials=credentials, exceptions=exceptions, HttpConfig=HttpConfig,
                              Signer=Signer)


def build_client(sdk: SimpleNamespace, server: RunningServer, credentials: Any) -> Any:
    """docs/cdm-api.md §5: an explicit http:// endpoint and a project id, no region."""
    config = sdk.HttpConfig.get_default_config()
    config.timeout = (10, 30)
    return (sdk.v1.CdmClient.new_builder()
            .with_http_config(config)
            .with_credentials(credentials)
            .with_endpoint(server.url)
            .build())


def aksk_client(sdk: SimpleNamespace, server: RunningServer, access_key: str | None = None,
                secret_key: str | None = None, project_id: str | None = None) -> Any:
    credentials = sdk.credentials.BasicCredentials(
        access_key or server.credentials["access_key"], secret_key or server.credentials["secret_key"],
        project_id or server.project_id,
    )
    return build_client(sdk, server, credentials)


def token_client(sdk: SimpleNamespace, server: RunningServer, token: str) -> Any:
    """The token-only recipe of docs/cdm-api.md §4.4, verbatim in substance."""
    base = sdk.credentials.BasicCredentials
    signer = sdk.Signer

    class BasicCredentials(base):  # type: ignore[misc, valid-type]
        # The name matters: the SDK's ClientBuilder checks __class__.__name__.
        def __init__(self, token: str, project_id: str) -> None:
            super().__init__(ak=None, sk=None, project_id=project_id)
            self._token = token

        def process_auth_request(self, request: Any, http_client: Any) -> Any:
            # Skip the STS / ECS-metadata discovery the SDK does when AK and SK are empty.
            return http_client.executor.submit(self.sign_request, request)

        def sign_request(self, request: Any) -> Any:
            request.header_params["X-Project-Id"] = self.project_id
            request.header_params["X-Auth-Token"] = self._token
            signer.process_request_uri(request)
            return request

    return build_client(sdk, server, BasicCredentials(token, server.project_id))


@pytest.fixture(scope="module")
def client(sdk: SimpleNamespace, server: RunningServer) -> Any:
    return aksk_client(sdk, server)


def test_list_clusters(sdk: SimpleNamespace, server: RunningServer, client: Any) -> None:
    clusters = client.list_clusters(sdk.v1.ListClustersRequest()).clusters
    assert [c.id for c in clusters] == [server.cluster_id]
    assert clusters[0].status == "200"
    assert clusters[0].is_frozen == "0"


def test_show_cluster_detail(sdk: SimpleNamespace, server: RunningServer, client: Any) -> None:
    detail = client.show_cluster_detail(sdk.v1.ShowClusterDetailRequest(cluster_id=server.cluster_id))
    assert detail.id == server.cluster_id
    assert detail.status == "200"
    assert detail.datastore.type == "cdm"
    assert detail.instances and detail.instances[0].id
    instance = client.show_instance_detail(sdk.v1.ShowInstanceDetailRequest(instance_id=detail.instances[0].id))
    assert instance.instance.cluster_id == server.cluster_id


def test_unknown_job_is_a_400_with_cdm_0100(sdk: SimpleNamespace, server: RunningServer, client: Any) -> None:
    request = sdk.v1.ShowJobStatusRequest(cluster_id=server.cluster_id, job_name=f"missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(sdk.exceptions.ClientRequestException) as caught:
        client.show_job_status(request)
    # The SDK does not parse CDM's {"errCode", "externalMessage"}: it keeps the raw body (§1.2).
    assert caught.value.status_code == 400
    assert "Cdm.0100" in caught.value.error_msg


def test_unknown_cluster(sdk: SimpleNamespace, client: Any) -> None:
    with pytest.raises(sdk.exceptions.ClientRequestException) as caught:
        client.show_cluster_detail(sdk.v1.ShowClusterDetailRequest(cluster_id=str(uuid.uuid4())))
    assert caught.value.status_code == 400
    assert "Cdm.0001" in caught.value.error_msg


def test_wrong_secret_key_is_apigw_0301(sdk: SimpleNamespace, server: RunningServer) -> None:
    wrong = aksk_client(sdk, server, secret_key=server.credentials["secret_key"][::-1])
    with pytest.raises(sdk.exceptions.ClientRequestException) as caught:
        wrong.list_clusters(sdk.v1.ListClustersRequest())
    assert caught.value.status_code == 401
    # The gateway shape is one the SDK understands: the code is parsed, not left in the raw body.
    assert caught.value.error_code == "APIGW.0301"
    assert caught.value.request_id


def test_another_projects_credentials_are_403(sdk: SimpleNamespace, server: RunningServer) -> None:
    tenant = create_tenant(server, f"sdk_b_{uuid.uuid4().hex[:8]}")
    # Project B's AK/SK, but the SDK pointed at project A.
    intruder = aksk_client(sdk, server, tenant.access_key, tenant.secret_key, server.project_id)
    with pytest.raises(sdk.exceptions.ClientRequestException) as caught:
        intruder.list_clusters(sdk.v1.ListClustersRequest())
    assert caught.value.status_code == 403
    assert caught.value.error_code == "APIGW.0302"
    own = aksk_client(sdk, server, tenant.access_key, tenant.secret_key, tenant.project_id)
    assert [c.id for c in own.list_clusters(sdk.v1.ListClustersRequest()).clusters] == [tenant.cluster_id]


def test_catalogue(sdk: SimpleNamespace, server: RunningServer, client: Any) -> None:
    datastores = client.show_datastores(sdk.v1.ShowDatastoresRequest()).datastores
    assert datastores and datastores[0].id
    flavors = client.show_flavors(sdk.v1.ShowFlavorsRequest(datastore_id=datastores[0].id))
    assert flavors.id == datastores[0].id
    flavor = flavors.versions[0].flavors[0]
    assert flavor.str_id and flavor.cpu
    detail = client.show_flavor_detail(sdk.v1.ShowFlavorDetailRequest(flavor_id=flavor.str_id))
    assert detail.str_id == flavor.str_id
    zones = client.show_availability_zones(sdk.v1.ShowAvailabilityZonesRequest(region_id="cn-north-4"))
    assert zones.available_zones and zones.available_zones[0].available_zone_id
    projects = client.show_enterprise_projects(sdk.v1.ShowEnterpriseProjectsRequest())
    assert [r.cluster_id for r in projects.resources] == [server.cluster_id]
    tags = client.show_cluster_enterprise_projects(
        sdk.v1.ShowClusterEnterpriseProjectsRequest(cluster_id=server.cluster_id))
    assert tags.sys_tags


def test_unknown_datastore(sdk: SimpleNamespace, client: Any) -> None:
    with pytest.raises(sdk.exceptions.ClientRequestException) as caught:
        client.show_flavors(sdk.v1.ShowFlavorsRequest(datastore_id="no-such-datastore"))
    assert caught.value.status_code == 400


def test_token_only_recipe(sdk: SimpleNamespace, server: RunningServer) -> None:
    client = token_client(sdk, server, server.token())
    assert [c.id for c in client.list_clusters(sdk.v1.ListClustersRequest()).clusters] == [server.cluster_id]
    with pytest.raises(sdk.exceptions.ClientRequestException) as caught:
        client.show_job_status(sdk.v1.ShowJobStatusRequest(cluster_id=server.cluster_id, job_name="missing"))
    assert caught.value.status_code == 400 and "Cdm.0100" in caught.value.error_msg
    forged = token_client(sdk, server, "forged-token")
    with pytest.raises(sdk.exceptions.ClientRequestException) as caught:
        forged.list_clusters(sdk.v1.ListClustersRequest())
    assert caught.value.status_code == 401 and caught.value.error_code == "APIGW.0301"


def test_signed_token_via_preset_headers(sdk: SimpleNamespace, server: RunningServer) -> None:
    # §4.4 alternative: AK/SK signing with X-Auth-Token as one more signed header.
    client = aksk_client(sdk, server)
    client.preset_headers = {"X-Auth-Token": server.token()}
    assert [c.id for c in client.list_clusters(sdk.v1.ListClustersRequest()).clusters] == [server.cluster_id]


def test_link_validation_answers(sdk: SimpleNamespace, server: RunningServer, client: Any, tmp_path: Path) -> None:
    """CreateLink ?validate=true through the SDK: a working link is its CreateLinkResponse; one that
    does not work is CDM's HTTP 500, whose raw body (error_msg) holds the validation result."""

    def validate(database: Path) -> Any:
        link = sdk.v1.Links(
            name=f"v{uuid.uuid4().hex[:8]}", connector_name="generic-jdbc-connector", enabled=True,
            link_config_values=sdk.v1.LinksLinkconfigvalues(configs=[sdk.v1.Configs(name="linkConfig", inputs=[
                sdk.v1.Input(name=key, value=value) for key, value in sqlite_link(str(database)).items()])]))
        return client.create_link(sdk.v1.CreateLinkRequest(
            cluster_id=server.cluster_id, validate="true", body=sdk.v1.CdmCreateAndUpdateLinkReq(links=[link])))

    sqlite3.connect(tmp_path / "there.db").close()
    working = validate(tmp_path / "there.db")
    assert working.name and working.validation_result == []

    with pytest.raises(sdk.exceptions.ServerResponseException) as caught:
        validate(tmp_path / "missing" / "x.db")
    assert caught.value.status_code == 500 and caught.value.request_id
    (result,) = json.loads(caught.value.error_msg)["validation-result"]
    (problem,) = sdk.v1.ValidationResult(link_config=[
        sdk.v1.ValidationLinkConfig(**item) for item in result["linkConfig"]]).link_config
    assert problem.status == "ERROR" and problem.message


def test_the_same_create_link_twice_in_one_second_answers_cdm_0315(
    sdk: SimpleNamespace, server: RunningServer, tmp_path: Path
) -> None:
    """The SDK's X-Sdk-Date has one-second steps, so a script's second CreateLink with a taken name,
    sent within the same second, is signed byte for byte as the first: it is served (not a 401) and
    told that the name is taken, as CDM answers it."""
    from datetime import UTC, datetime

    client = aksk_client(sdk, server)
    # The SDK signs with a preset X-Sdk-Date as it is: both calls fall in one second whatever the clock does.
    client.preset_headers = {"X-Sdk-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")}
    name = f"twice_{uuid.uuid4().hex[:8]}"
    link = sdk.v1.Links(
        name=name, connector_name="generic-jdbc-connector", enabled=True,
        link_config_values=sdk.v1.LinksLinkconfigvalues(configs=[sdk.v1.Configs(name="linkConfig", inputs=[
            sdk.v1.Input(name=key, value=value) for key, value in sqlite_link(str(tmp_path / "l.db")).items()])]))
    request = sdk.v1.CreateLinkRequest(cluster_id=server.cluster_id,
                                       body=sdk.v1.CdmCreateAndUpdateLinkReq(links=[link]))
    assert client.create_link(request).name == name
    with pytest.raises(sdk.exceptions.ClientRequestException) as caught:
        client.create_link(request)
    assert caught.value.status_code == 400
    assert "Cdm.0315" in caught.value.error_msg
