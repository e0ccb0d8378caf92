"""What the commands read: names, CDM config values given as KEY=VALUE pairs, and CDM bodies from --file."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from opencdm.config_values import iter_inputs

NameArg = Annotated[str, typer.Argument(help="Name of the resource.")]
OptionalNameArg = Annotated[str | None, typer.Argument(help="Name (omit it with --file).")]
FileOption = Annotated[
    Path | None, typer.Option("--file", "-f", exists=True, dir_okay=False, help="A CDM-shaped JSON request body.")
]
PageOption = Annotated[int, typer.Option(min=1, help="Page number.")]


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"'{pair}' is not KEY=VALUE.", param_hint=option)
        values[key] = value
    return values


def config_values(values: Mapping[str, Any], default_config: str | None, option: str) -> dict[str, Any]:
    """CDM's ``{"configs": [{"name", "inputs": [...]}]}``, grouped by the part of each key before the first
    dot; a key without a dot belongs to ``default_config`` (``tableName`` → ``fromJobConfig.tableName``)."""
    configs: dict[str, list[dict[str, Any]]] = {}
    for key, value in values.items():
        if "." not in key:
            if default_config is None:
                raise typer.BadParameter(f"'{key}' needs its config name, as in CONFIG.{key}.", param_hint=option)
            key = f"{default_config}.{key}"
        configs.setdefault(key.split(".", 1)[0], []).append({"name": key, "value": value})
    return {"configs": [{"name": name, "inputs": inputs} for name, inputs in configs.items()]}


def given_inputs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs that carry a value; the API omits the value of sensitive ones, which must stay unsent."""
    return {item["name"]: item["value"] for item in iter_inputs(values) if "value" in item}


def read_body(path: Path, key: str) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint="--file") from exc
    if not isinstance(body, dict) or not isinstance(body.get(key), list) or not body[key]:
        raise typer.BadParameter(f'{path} must hold a CDM body {{"{key}": [...]}}.', param_hint="--file")
    return body


def body_or_file(
    file: Path | None, key: str, name: str | None, build: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """The request body from --file, or one entity built from NAME and the options."""
    if file is not None:
        if name is not None:
            raise typer.BadParameter("give NAME with options or --file, not both.", param_hint="NAME")
        return read_body(file, key)
    if name is None:
        raise typer.BadParameter("NAME (or --file) is required.", param_hint="NAME")
    return {key: [build(name)]}

