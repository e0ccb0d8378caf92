"""Links: create, validate, show, update, delete. Sensitive inputs are encrypted and never shown."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opencdm.config_values import input_value_as_str, iter_inputs
from opencdm.connectors import get_connector, known_inputs
from opencdm.connectors.base import Connector, InputSpec
from opencdm.connectors.inputs import refuse_unknown
from opencdm.engine.status import now_ms
from opencdm.errors import CdmError
from opencdm.store.links import all_inputs, secrets_of
from opencdm.store.models import Cluster, Job, Link
from opencdm.store.secrets import SecretBox

Named = TypeVar("Named", Link, Job)

log = logging.getLogger(__name__)

# Matched whole (fullmatch): "$" would also accept a name ending in a newline, which no route finds.
NAME_RULE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,239}")
NAME_RULE_TEXT = "1-240 characters, letters, digits, '-' and '_', starting with a letter"


def check_name(kind: str, name: str, code: str) -> None:
    if not NAME_RULE.fullmatch(name):
        raise CdmError(code, f"{kind} name '{name}' is invalid: use {NAME_RULE_TEXT}.")


@dataclass(frozen=True)
class LinkDraft:
    name: str
    connector_name: str
    enabled: bool
    inputs: dict[str, Any]  # as sent: name -> value (any JSON)


def find_named(session: Session, model: type[Named], cluster: Cluster, name: str, missing: CdmError) -> Named:
    """The cluster's link or job called exactly ``name``, or ``missing`` raised."""
    found = session.scalar(select(model).where(model.cluster_id == cluster.id, model.name == name))
    if found is None:
        raise missing
    return found


def find_link(session: Session, cluster: Cluster, name: str) -> Link:
    return find_named(session, Link, cluster, name, _no_such_link(name))


def _no_such_link(name: str) -> CdmError:
    return CdmError("Cdm.0101", f"Link [{name}] does not exist.")


def _checked(draft: LinkDraft) -> Connector:
    check_name("Link", draft.name, "Cdm.0317")
    connector = get_connector(draft.connector_name)
    refuse_unknown(draft.inputs, known_inputs(draft.connector_name, "linkConfig"), f"the {draft.connector_name}")
    connector.check_link_inputs({key: input_value_as_str(value) for key, value in draft.inputs.items()})
    return connector


def validate_link(draft: LinkDraft) -> list[str]:
    """Really connect; the problems found, as messages (empty when the link works)."""
    connector = _checked(draft)
    try:
        connector.validate_link({key: input_value_as_str(value) for key, value in draft.inputs.items()})
    except CdmError as exc:
        return [exc.message]
    except Exception:  # noqa: BLE001 - a peer may fail a driver in unforeseen ways: a failed validation, not a 500
        log.exception("validation of link %s failed unexpectedly", draft.name)
        return ["The link could not be validated: the connection failed unexpectedly (see the server's log)."]
    return []


def create_link(session: Session, box: SecretBox, cluster: Cluster, draft: LinkDraft, user: str) -> Link:
    connector = _checked(draft)
    if session.scalar(select(Link.id).where(Link.cluster_id == cluster.id, Link.name == draft.name)):
        raise CdmError("Cdm.0315", f"Link name {draft.name} already exists.")
    public, secret = _split_secrets(connector, draft.inputs)
    stamp = now_ms()
    link = Link(
        cluster_id=cluster.id,
        name=draft.name,
        connector_name=draft.connector_name,
        enabled=draft.enabled,
        inputs=public,
        secrets_encrypted=box.encrypt_json(secret) if secret else None,
        creation_user=user,
        creation_ms=stamp,
        update_user=user,
        update_ms=stamp,
    )
    insert_unique(session, link, CdmError("Cdm.0315", f"Link name {draft.name} already exists."))
    return link


def update_link(
    session: Session, box: SecretBox, cluster: Cluster, name: str, draft: LinkDraft, user: str
) -> Link:
    link = session.scalar(select(Link).where(Link.cluster_id == cluster.id, Link.name == name))
    if link is None:
        raise CdmError("Cdm.0316", f"Cannot update link {name}: it does not exist.")
    if draft.name != name:
        raise CdmError("Cdm.0014", f"The link name in the body ({draft.name}) must be {name}.")
    if draft.connector_name != link.connector_name and _link_in_use(session, link):
        raise CdmError("Cdm.0321", f"Link {name} is in use; its connector cannot change.")
    # A client that re-sends a link without its password keeps the stored one.
    previous_secrets = secrets_of(box, link)
    merged = {**previous_secrets, **draft.inputs} if draft.connector_name == link.connector_name else draft.inputs
    connector = _checked(LinkDraft(draft.name, draft.connector_name, draft.enabled, merged))
    public, secret = _split_secrets(connector, merged)
    link.connector_name = draft.connector_name
    link.enabled = draft.enabled
    link.inputs = public
    link.secrets_encrypted = box.encrypt_json(secret) if secret else None
    link.update_user = user
    link.update_ms = now_ms()
    return link


def _link_in_use(session: Session, link: Link) -> bool:
    return (
        session.scalar(
            select(Job.id).where(
                Job.cluster_id == link.cluster_id,
                or_(Job.from_link_name == link.name, Job.to_link_name == link.name),
            )
        )
        is not None
    )


def delete_link(session: Session, cluster: Cluster, name: str) -> None:
    link = find_link(session, cluster, name)
    if _link_in_use(session, link):
        raise CdmError("Cdm.0321", f"Link {name} is in use by a job and cannot be deleted.")
    delete_once(session, link, _no_such_link(name))


def delete_once(session: Session, row: Link | Job | Cluster, missing: CdmError) -> None:
    """Delete a row found earlier in this transaction; ``missing`` if a concurrent request deleted it
    first, so that of several requests deleting one thing exactly one succeeds."""
    model = type(row)
    deleted = session.execute(delete(model).where(model.id == row.id))
    if deleted.rowcount != 1:  # type: ignore[attr-defined]
        raise missing
    session.expunge(row)


def insert_unique(session: Session, row: object, duplicate: CdmError) -> None:
    """Add a named row; ``duplicate`` when a concurrent request took the name after our check."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise duplicate from None


def draft_from_wire(name: str, connector_name: str, enabled: bool, config_values: Mapping[str, Any]) -> LinkDraft:
    return LinkDraft(
        name=name,
        connector_name=connector_name,
        enabled=enabled,
        inputs={item["name"]: item.get("value") for item in iter_inputs(config_values)},
    )


def _split_secrets(connector: Connector, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    sensitive = connector.sensitive_inputs
    public = {key: value for key, value in inputs.items() if key not in sensitive}
    secret = {key: value for key, value in inputs.items() if key in sensitive}
    return public, secret


def described_inputs(box: SecretBox, link: Link) -> dict[str, list[dict[str, Any]]]:
    """The link's inputs grouped by config name, with Sqoop-style metadata; secrets without value."""
    connector = get_connector(link.connector_name)
    specs: dict[str, InputSpec] = {spec.name: spec for spec in connector.link_inputs}
    present = all_inputs(box, link)
    grouped: dict[str, list[dict[str, Any]]] = {}
    names = [spec.name for spec in connector.link_inputs if spec.name in present]
    names += [name for name in present if name not in specs]
    for name in names:
        spec = specs.get(name, InputSpec(name))
        item: dict[str, Any] = {"name": name, "type": spec.type, "mandatory": spec.mandatory}
        if spec.size is not None:
            item["size"] = spec.size
        if spec.default is not None:
            item["defaultValue"] = spec.default
        if spec.sensitive:
            item["sensitive"] = True
        else:
            item["value"] = present[name]
        grouped.setdefault(name.split(".", 1)[0] if "." in name else "linkConfig", []).append(item)
    return grouped
