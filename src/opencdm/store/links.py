"""A link's inputs as stored: the public ones in its row, the sensitive ones encrypted beside them."""

from __future__ import annotations

from typing import Any

from opencdm.config_values import flatten
from opencdm.store.models import Link
from opencdm.store.secrets import SecretBox


def link_values(box: SecretBox, link: Link) -> dict[str, str]:
    """Every input of the link as text, secrets decrypted: what a connector is opened with."""
    return flatten({"configs": [{"inputs": [{"name": k, "value": v} for k, v in all_inputs(box, link).items()]}]})


def all_inputs(box: SecretBox, link: Link) -> dict[str, Any]:
    return {**link.inputs, **secrets_of(box, link)}


def secrets_of(box: SecretBox, link: Link) -> dict[str, Any]:
    return box.decrypt_json(link.secrets_encrypted) if link.secrets_encrypted else {}
