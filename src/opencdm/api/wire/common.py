"""What every wire module shares: the base model, the documented-only constraints, config values
(``{"configs": [{"name", "inputs": [...]}]}``) and the empty answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opencdm.service.links import NAME_RULE, NAME_RULE_TEXT

NAME_PATTERN = f"^{NAME_RULE.pattern}$"


def documented(**constraints: Any) -> dict[str, Any]:
    """Schema constraints shown in the OpenAPI document only (see the package docstring)."""
    return {"json_schema_extra": constraints}


def connector_names_enum(schema: dict[str, Any]) -> None:
    from opencdm.connectors import connector_names  # imports every connector: only when documenting

    schema["enum"] = connector_names()


def named(what: str) -> dict[str, Any]:
    """A name field's documented rule."""
    return documented(pattern=NAME_PATTERN, description=f"{what}: {NAME_RULE_TEXT}.")


class Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Input(Wire):
    name: str = Field(min_length=1)
    value: Any = None
    type: str | None = None


class Config(Wire):
    name: str = Field(min_length=1)
    inputs: list[Input] = Field(default_factory=list)
    id: int | None = None
    type: str | None = None

    @field_validator("inputs", mode="before")
    @classmethod
    def _empty_object_is_empty_list(cls, value: Any) -> Any:
        # CDM's own samples send "inputs": {} for empty configs.
        if isinstance(value, dict):
            return [value] if value else []
        return value


class ExtendedConfigs(Wire):
    name: str | None = None
    value: str | None = None


class ConfigValues(Wire):
    configs: list[Config] = Field(default_factory=list)
    extended_configs: ExtendedConfigs | None = Field(default=None, alias="extended-configs")
    validators: list[str] | None = None

    @field_validator("configs", mode="before")
    @classmethod
    def _object_is_list(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [value] if value else []
        return value


class Empty(Wire):
    """``{}``: DeleteLink, DeleteJob, DeleteGroup, ModifyCluster."""

    model_config = ConfigDict(extra="forbid")
