"""The two shapes every failure takes (docs/cdm-api.md §9), as the OpenAPI document shows them;
api/errors.py answers them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CdmErrorBody(BaseModel):
    """A CDM service error (docs/cdm-api.md §9.1): 400 for every Cdm code, 413 for a body over the limit,
    405 with an Allow header, 500 (Cdm.0000) for a bug."""

    model_config = ConfigDict(extra="forbid")
    err_code: str = Field(alias="errCode", pattern=r"^Cdm\.\d{4}$", examples=["Cdm.0100"])
    external_message: str = Field(alias="externalMessage", min_length=1, examples=["Job[job_a] doesn't exist."])


class GatewayErrorBody(BaseModel):
    """The API gateway's error (docs/cdm-api.md §9.2): 401 APIGW.0301, 403 APIGW.0302, 404 APIGW.0101, and
    400 IAM.0001 for a malformed token request. ``request_id`` is also the X-Request-Id header."""

    model_config = ConfigDict(extra="forbid")
    error_msg: str = Field(min_length=1, examples=["Incorrect IAM authentication information: ..."])
    error_code: str = Field(pattern=r"^[A-Z]+\.\d{4}$", examples=["APIGW.0301"])
    request_id: str = Field(min_length=1)
