"""The connection options that every API client command group takes, and the client built from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from opencdm.client import DEFAULT_URL, CdmClient, Credentials


@dataclass(frozen=True)
class Connection:
    url: str
    cluster: str | None
    ca_file: Path | None


def connect(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="OPENCDM_URL", help="OpenCDM API endpoint.")] = DEFAULT_URL,
    cluster: Annotated[
        str | None,
        typer.Option(help="Cluster id or name (default: $OPENCDM_CLUSTER_ID, credentials.json, the only one)."),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(envvar="OPENCDM_CA_FILE",
                     help="PEM file of the CA that signed an https:// endpoint's certificate (default: the "
                          "system's CAs, or $SSL_CERT_FILE)."),
    ] = None,
) -> None:
    """Credentials come from OPENCDM_USER / OPENCDM_PASSWORD / OPENCDM_PROJECT_ID (and OPENCDM_DOMAIN),
    else from $OPENCDM_HOME/credentials.json."""
    # Only remembered: the group callback also runs for "opencdm job create --help", which needs no credentials.
    ctx.obj = Connection(url, cluster, ca_file)


def client_of(ctx: typer.Context) -> CdmClient:
    assert isinstance(ctx.obj, Connection)
    return ctx.with_resource(CdmClient(ctx.obj.url, Credentials.from_env(), ctx.obj.cluster,
                                           ca_file=ctx.obj.ca_file))


class _ClientGroup(TyperGroup):
    """Takes the group's connection options after the command too (``opencdm job list --url …``)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        names = {name for param in self.params for name in param.opts}
        hoisted: list[str] = []
        rest: list[str] = []
        position = 0
        while position < len(args):
            arg = args[position]
            if arg == "--":  # what follows is an argument, whatever it looks like
                rest += args[position:]
                break
            if arg.partition("=")[0] in names and rest:  # before the command it is parsed as usual
                take = 1 if "=" in arg else 2
                hoisted += args[position:position + take]
                position += take
                continue
            rest.append(arg)
            position += 1
        return super().parse_args(ctx, hoisted + rest)


def client_app(help_text: str) -> typer.Typer:
    """A command group of API clients, all taking the connection options of ``connect``."""
    return typer.Typer(cls=_ClientGroup, help=help_text, no_args_is_help=True, callback=connect)

