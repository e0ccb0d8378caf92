"""``python -m opencdm`` is the ``opencdm`` command."""

from opencdm.cli import app

app()
