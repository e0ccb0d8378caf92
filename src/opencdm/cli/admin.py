"""``opencdm admin``: projects, users, AK/SK pairs and clusters, directly on the metadata store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from opencdm.cli.inputs import NameArg
from opencdm.cli.output import JsonOption, console, fail, print_fields, show, table, when
from opencdm.client import DEFAULT_DOMAIN

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from opencdm.store.models import Project
    from opencdm.store.secrets import SecretBox


admin_app = typer.Typer(
    help="Administration on the metadata store of $OPENCDM_HOME (OPENCDM_DATABASE_URL), on the server host.",
    no_args_is_help=True,
)
project_app = typer.Typer(help="Projects (IAM tenants).", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
ak_app = typer.Typer(help="AK/SK pairs for SDK request signing.", no_args_is_help=True)
admin_cluster_app = typer.Typer(help="Clusters.", no_args_is_help=True)
admin_app.add_typer(project_app, name="project")
admin_app.add_typer(user_app, name="user")
admin_app.add_typer(ak_app, name="ak")
admin_app.add_typer(admin_cluster_app, name="cluster")
DomainOption = Annotated[str, typer.Option(help="IAM domain of the user.")]


@contextmanager
def store_session() -> Iterator[tuple[Session, SecretBox]]:
    """One transaction on the (migrated) store: committed when the block succeeds."""
    # Imported here so that the client commands do not load the server stack.
    from opencdm.server import open_bootstrapped_state
    from opencdm.settings import Settings

    # The bootstrap banner goes to stderr: stdout may be a --json answer.
    state = open_bootstrapped_state(Settings.from_env(), announce_to=sys.stderr)
    try:
        with state.store.session() as session:
            yield session, state.box
    finally:
        state.store.dispose()


def project_of(session: Session, ref: str) -> Project:
    from opencdm.service.iam import find_project

    project = find_project(session, ref)
    if project is None:
        fail(f"Project {ref} does not exist.")
    return project


def print_created(kind: str, created: dict[str, Any], as_json: bool) -> None:
    show(created, as_json, lambda c: print_fields(f"{kind} created", c))


@project_app.command("create")
def project_create(
    name: NameArg, domain: Annotated[str, typer.Option(help="IAM domain.")] = DEFAULT_DOMAIN,
    as_json: JsonOption = False,
) -> None:
    """Create a project."""
    from opencdm.service.iam import create_project

    with store_session() as (session, _):
        project = create_project(session, name, domain)
        created = {"id": project.id, "name": project.name, "domain": project.domain}
    print_created("Project", created, as_json)


@project_app.command("list")
def project_list(as_json: JsonOption = False) -> None:
    """List the projects."""
    from sqlalchemy import select

    from opencdm.store.models import Project

    with store_session() as (session, _):
        projects = [{"id": p.id, "name": p.name, "domain": p.domain, "created_ms": p.created_ms}
                    for p in session.scalars(select(Project).order_by(Project.created_ms))]

    def render(rows: dict[str, Any]) -> None:
        grid = table("ID", "Name", "Domain", "Created")
        for row in rows["projects"]:
            grid.add_row(row["id"], row["name"], row["domain"], when(row["created_ms"]))
        console.print(grid)

    show({"projects": projects}, as_json, render)


@user_app.command("create")
def user_create(
    name: NameArg,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    projects: Annotated[list[str], typer.Option("--project", help="Project id or name, repeatable.")],
    domain: DomainOption = DEFAULT_DOMAIN,
    as_json: JsonOption = False,
) -> None:
    """Create a user, member of the given projects."""
    from opencdm.service.iam import create_user

    with store_session() as (session, _):
        members = [project_of(session, ref) for ref in projects]
        user = create_user(session, name, password, members, domain)
        created = {"id": user.id, "name": user.name, "domain": user.domain, "projects": [p.id for p in members]}
    print_created("User", created, as_json)


@ak_app.command("create")
def ak_create(
    user: Annotated[str, typer.Option(help="User name.")],
    project: Annotated[str, typer.Option(help="Project id or name the pair is scoped to.")],
    domain: DomainOption = DEFAULT_DOMAIN,
    as_json: JsonOption = False,
) -> None:
    """Create an AK/SK pair; the secret key is shown only this once."""
    from sqlalchemy import select

    from opencdm.service.iam import create_access_key, is_member
    from opencdm.store.models import User

    with store_session() as (session, box):
        owner = session.scalar(select(User).where(User.name == user, User.domain == domain))
        if owner is None:
            fail(f"User {user} does not exist in domain {domain}.")
        scope = project_of(session, project)
        if not is_member(session, owner, scope):
            fail(f"User {user} is not a member of project {scope.name}.")
        access_key, secret_key = create_access_key(session, box, owner, scope)
        created = {"access_key": access_key, "secret_key": secret_key, "user": owner.name, "project_id": scope.id}
    print_created("AK/SK pair (the secret key is not shown again)", created, as_json)


EXECUTOR_HELP = (
    "Where the cluster's jobs run their partitions: local (processes of the server's machine) or the "
    "address of a Dask scheduler (tcp://host:8786) whose workers have OpenCDM installed."
)
ExecutorOption = Annotated[str, typer.Option(help=EXECUTOR_HELP)]


def checked_executor(executor: str) -> str:
    from opencdm.engine.executors import is_executor

    if not is_executor(executor):
        fail(f"Executor {executor!r} is neither 'local' nor a Dask scheduler address (tcp://host:port).")
    return executor


@admin_cluster_app.command("create")
def admin_cluster_create(
    name: NameArg,
    project: Annotated[str, typer.Option(help="Project id or name.")],
    executor: ExecutorOption = "local",
    as_json: JsonOption = False,
) -> None:
    """Create a cluster in a project."""
    from opencdm.service.clusters import check_new_name
    from opencdm.service.iam import create_cluster

    with store_session() as (session, _):
        owner = project_of(session, project)
        check_new_name(session, owner.id, name)
        cluster = create_cluster(session, owner, name, executor=checked_executor(executor))
        created = {"id": cluster.id, "name": cluster.name, "project_id": owner.id, "executor": cluster.executor}
    print_created("Cluster", created, as_json)


@admin_cluster_app.command("set-executor")
def admin_cluster_set_executor(
    cluster: Annotated[str, typer.Argument(help="Cluster id.")],
    executor: Annotated[str, typer.Argument(help=EXECUTOR_HELP)],
) -> None:
    """Set where a cluster's jobs run their partitions, from their next run on. Only here, not over
    the API: the server connects to that address and sends it the jobs' link secrets."""
    from opencdm.store.models import Cluster

    with store_session() as (session, _):
        found = session.get(Cluster, cluster)
        if found is None:
            fail(f"Cluster {cluster} does not exist.")
        found.executor = checked_executor(executor)
    console.print(f"Cluster {cluster} runs its partitions on: {executor}")
