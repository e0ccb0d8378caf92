"""The ``opencdm`` command line.

``serve`` runs the service and ``admin`` works directly on the metadata store of $OPENCDM_HOME; every
other command is a client of the HTTP API (``opencdm.client``), so it behaves exactly like the SDK would.
"""

from opencdm.cli.app import app

__all__ = ["app"]
