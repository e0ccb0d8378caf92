"""The ``opencdm`` command: ``serve``, ``--version``, and the command groups of the other modules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from opencdm import __version__
from opencdm.cli.admin import admin_app
from opencdm.cli.clusters import cluster_app
from opencdm.cli.jobs import job_app
from opencdm.cli.links import link_app
from opencdm.cli.output import fail
from opencdm.client import CdmClientError
from opencdm.errors import CdmError


class _Group(TyperGroup):
    """Turns the expected failures (API errors, store errors) into one line on stderr and exit code 1."""

    # Typer types this with its vendored click Context, which it does not export; typer.Context subclasses it.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (CdmClientError, CdmError) as exc:
            fail(str(exc))


app = typer.Typer(
    cls=_Group,
    help="OpenCDM: self-hosted data migration, wire-compatible with Huawei Cloud CDM.",
    no_args_is_help=True,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"opencdm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """OpenCDM command line."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    ssl_certfile: Annotated[Path | None, typer.Option(
        help="Serve HTTPS with this PEM certificate (chain) (default: $OPENCDM_SSL_CERTFILE).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(
        help="The certificate's PEM private key, unencrypted (default: $OPENCDM_SSL_KEYFILE).")] = None,
) -> None:
    """Start the service (embedded SQLite metadata store in $OPENCDM_HOME by default)."""
    from opencdm.server import TlsFilesUnusable
    from opencdm.server import serve as run_server
    from opencdm.settings import Settings

    settings = Settings.from_env()
    settings = replace(settings, ssl_certfile=ssl_certfile or settings.ssl_certfile,
                       ssl_keyfile=ssl_keyfile or settings.ssl_keyfile)
    try:
        run_server(host, port, settings)
    except TlsFilesUnusable as exc:
        fail(str(exc))


# In the order that "opencdm --help" lists them.
app.add_typer(link_app, name="link")
app.add_typer(job_app, name="job")
app.add_typer(cluster_app, name="cluster")
app.add_typer(admin_app, name="admin")
