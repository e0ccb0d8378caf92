"""The OpenAPI document tells the truth: schemathesis sends generated requests (fixed seed) to a live
server and checks every answer against /openapi.json (tests/api/contract.py does the driving)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import RunningServer, start_server
from contract import fuzz

SEED = 20240611
EXAMPLES = 6  # generated cases per operation and mode; CreateLink and CreateJob get more
WEIGHTS = {"CreateLink": 8, "CreateJob": 16}


@pytest.fixture(scope="module")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    root = tmp_path_factory.mktemp("contract-files")
    running = start_server(tmp_path_factory.mktemp("contract-home"), env={"OPENCDM_FILE_ROOTS": str(root)})
    yield running, root
    running.stop()


def test_document_shapes(contract_server: tuple[RunningServer, Path]) -> None:
    server, _ = contract_server
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"XAuthToken", "AkSkSignature", "SdkDate"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert "422" not in operation["responses"], where
            if path.startswith("/v1.1/"):
                assert operation["security"] == [{"XAuthToken": []}, {"AkSkSignature": [], "SdkDate": []}], where
                assert {"400", "401", "403", "413", "default"} <= set(operation["responses"]), where
            else:
                assert "security" not in operation, where
            success = next(code for code in operation["responses"] if code.startswith("2"))
            schema = operation["responses"][success]["content"]["application/json"]["schema"]
            assert "$ref" in schema, where  # a wire model, not "type: object"
    token = document["paths"]["/v3/auth/tokens"]["post"]
    assert token["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenRequest"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_generated_requests_conform(contract_server: tuple[RunningServer, Path]) -> None:
    server, root = contract_server
    report = fuzz(server, root, examples=EXAMPLES, seed=SEED, weights=WEIGHTS, progress=print)
    print("\n" + report.table() + "\n" + report.summary())
    assert not report.failures, "\n".join(report.failures)
    assert report.server_errors == 0
    for operation in ("CreateLink", "CreateJob"):
        ok, total = report.share_2xx(operation)
        # Before the document described valid bodies, about 12 % got through. The same seed draws
        # differently from run to run under pytest's Hypothesis plugin: 10–33 of 50 CreateJob bodies
        # were accepted (the rest mostly name links of other connectors), hence 100 of them and a
        # floor of a sixth, which the old document's 12 % stays under.
        assert ok >= total // 6, f"{operation}: only {ok} of {total} generated bodies were accepted"
