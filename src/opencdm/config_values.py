"""CDM config values (``{"configs": [{"name", "inputs": [{"name", "value"}]}]}``) as flat mappings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def input_value_as_str(value: Any) -> str:
    """CDM sends values as strings but also accepts JSON booleans and numbers; normalise to CDM's text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def iter_inputs(config_values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every input of every config; ``"inputs": {}`` (seen in CDM's docs) counts as no inputs."""
    found: list[dict[str, Any]] = []
    for config in config_values.get("configs") or []:
        inputs = config.get("inputs") or []
        if isinstance(inputs, dict):
            inputs = [inputs] if inputs else []
        found.extend(inputs)
    return found


def flatten(config_values: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"linkConfig.host": "127.0.0.1", ...}`` from CDM-shaped config values."""
    if not config_values:
        return {}
    return {item["name"]: input_value_as_str(item.get("value")) for item in iter_inputs(config_values)}
