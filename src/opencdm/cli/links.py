"""``opencdm link``: connections to data sources, over the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from opencdm.cli.connection import client_app, client_of
from opencdm.cli.inputs import (
    FileOption,
    NameArg,
    OptionalNameArg,
    body_or_file,
    config_values,
    given_inputs,
    parse_pairs,
    read_body,
)
from opencdm.cli.output import JsonOption, console, err_console, print_fields, print_json, show, table, text, when
from opencdm.config_values import iter_inputs

link_app = client_app("Links: connections to data sources.")
InputOption = Annotated[
    list[str] | None, typer.Option("--input", "-i", help="KEY=VALUE link input, repeatable (linkConfig.host=…).")
]


def link_entity(name: str, connector: str, inputs: dict[str, Any], enabled: bool = True) -> dict[str, Any]:
    return {"name": name, "connector-name": connector, "enabled": enabled,
            "link-config-values": config_values(inputs, "linkConfig", "--input")}


def validation_messages(answer: dict[str, Any]) -> list[str]:
    """Messages of a ``validation-result``: a list of {config name: [{message, status}]}."""
    return [
        f"{item.get('status', 'ERROR')}: {item.get('message', '')}"
        for result in answer.get("validation-result") or []
        for items in result.values()
        if isinstance(items, list)
        for item in items
    ]


@link_app.command("create")
def link_create(
    ctx: typer.Context,
    name: OptionalNameArg = None,
    connector: Annotated[str, typer.Option(help="CDM connector name.")] = "generic-jdbc-connector",
    inputs: InputOption = None,
    file: FileOption = None,
    validate: Annotated[bool, typer.Option(help="Only test the link (the server connects); save nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a link from --input pairs, or from --file {"links": [...]}."""
    body = body_or_file(file, "links", name,
                        lambda link_name: link_entity(link_name, connector, parse_pairs(inputs, "--input")))
    answer = client_of(ctx).create_link(body, validate)
    problems = validation_messages(answer)
    if as_json:
        print_json(answer)
    elif validate:
        for problem in problems:
            err_console.print(problem, style="red")
        if not problems:
            console.print(f"Link {answer.get('name')} is valid.")
    else:
        console.print(f"Link {answer.get('name')} created.")
    if problems:
        raise typer.Exit(1)


def print_links(answer: dict[str, Any]) -> None:
    grid = table("Name", "Connector", "Enabled", "Created", "Updated", title=f"{len(answer['links'])} link(s)")
    for link in answer["links"]:
        grid.add_row(link["name"], link["connector-name"], text(link["enabled"]),
                     f"{when(link.get('creation-date'))} by {link.get('creation-user', '')}",
                     f"{when(link.get('update-date'))} by {link.get('update-user', '')}")
    console.print(grid)


@link_app.command("list")
def link_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the cluster's links (no input values: see link show)."""
    show(client_of(ctx).list_links(), as_json, print_links)


def print_link(answer: dict[str, Any]) -> None:
    for link in answer["links"]:
        print_fields(f"Link {link['name']}", {
            "Connector": link["connector-name"],
            "Enabled": link["enabled"],
            "Created": f"{when(link.get('creation-date'))} by {link.get('creation-user', '')}",
            "Updated": f"{when(link.get('update-date'))} by {link.get('update-user', '')}",
        })
        inputs = table("Input", "Value")
        for item in iter_inputs(link["link-config-values"]):
            inputs.add_row(item["name"], text(item["value"]) if "value" in item else "(hidden)")
        console.print(inputs)


@link_app.command("show")
def link_show(ctx: typer.Context, name: NameArg, as_json: JsonOption = False) -> None:
    """Show a link; sensitive inputs (passwords) are never returned by the API."""
    show(client_of(ctx).show_link(name), as_json, print_link)


@link_app.command("update")
def link_update(
    ctx: typer.Context, name: NameArg, inputs: InputOption = None, file: FileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change some inputs of a link (the others, and stored passwords, are kept), or replace it with --file."""
    client = client_of(ctx)
    if file is not None:
        body = read_body(file, "links")
    else:
        changes = parse_pairs(inputs, "--input")
        if not changes:
            raise typer.BadParameter("give --input KEY=VALUE or --file.", param_hint="--input")
        current = client.show_link(name)["links"][0]
        merged = {**given_inputs(current["link-config-values"]), **changes}
        body = {"links": [link_entity(name, current["connector-name"], merged, current["enabled"])]}
    show(client.update_link(name, body), as_json, lambda _: console.print(f"Link {name} updated."))


@link_app.command("delete")
def link_delete(ctx: typer.Context, name: NameArg) -> None:
    """Delete a link that no job uses."""
    client_of(ctx).delete_link(name)
    console.print(f"Link {name} deleted.")
