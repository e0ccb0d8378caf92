"""The ``opencdm`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="OpenCDM: self-hosted data migration, wire-compatible with Huawei Cloud CDM.", no_args_is_help=True
)


@app.callback()
def main() -> None:
    """OpenCDM command line."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Start the service (embedded SQLite metadata store in $OPENCDM_HOME by default)."""
    from opencdm.server import serve as run_server

    run_server(host, port)
