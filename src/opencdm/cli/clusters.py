"""``opencdm cluster``: the execution pools of the project, over the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from opencdm.cli.connection import client_app, client_of
from opencdm.cli.output import JsonOption, console, print_fields, show, table
from opencdm.client import CLUSTER_ACTIONS

cluster_app = client_app("Clusters: the execution pools of the project.")
ClusterArg = Annotated[str, typer.Argument(help="Cluster id or name.")]


def cluster_fields(cluster: dict[str, Any]) -> dict[str, str]:
    return {"ID": cluster["id"], "Name": cluster["name"],
            "Status": f"{cluster['status']} {cluster.get('statusDetail', '')}".strip(),
            "Created": cluster.get("created", "")}


@cluster_app.command("list")
def cluster_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the project's clusters."""

    def render(answer: dict[str, Any]) -> None:
        grid = table("ID", "Name", "Status", "Created")
        for cluster in answer["clusters"]:
            grid.add_row(*cluster_fields(cluster).values())
        console.print(grid)

    show(client_of(ctx).list_clusters(), as_json, render)


@cluster_app.command("show")
def cluster_show(ctx: typer.Context, cluster: ClusterArg, as_json: JsonOption = False) -> None:
    """Show a cluster."""
    client = client_of(ctx)
    detail = client.show_cluster(client.find_cluster(cluster)["id"])
    show(detail, as_json, lambda c: print_fields(f"Cluster {c['name']}", {
        **cluster_fields(c), "Updated": c.get("updated"), "Executor": c.get("executor"),
        "Version": (c.get("datastore") or {}).get("version"),
    }))


def add_cluster_action(action: str) -> None:
    def command(ctx: typer.Context, cluster: ClusterArg, as_json: JsonOption = False) -> None:
        client = client_of(ctx)
        target = client.find_cluster(cluster)
        answer = client.cluster_action(target["id"], action)
        show(answer, as_json, lambda _: console.print(f"Cluster {target['name']}: {action} requested."))

    command.__doc__ = f"{action.capitalize()} a cluster (stop and restart also stop its running jobs)."
    cluster_app.command(action)(command)


for _action in CLUSTER_ACTIONS:
    add_cluster_action(_action)
