"""Runs that open a new SQL catalog at once (the tables of an entire-database job) all get it: the
one that finds the catalog's tables made by another since it looked opens it again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy.exc import OperationalError

from opencdm.connectors.iceberg.config import LinkConfig


def _link(tmp_path: Path) -> LinkConfig:
    return LinkConfig.parse({"linkConfig.catalogType": "sql", "linkConfig.catalogUri": f"sqlite:///{tmp_path}/c.db",
                             "linkConfig.warehouse": str(tmp_path / "warehouse")})


def test_a_catalog_made_by_another_run_meanwhile_is_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = SqlCatalog._init_catalog
    calls: list[int] = []

    def lose_the_race(catalog: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # another run made the tables between this one's look and its CREATE TABLE
            first(catalog)
            raise OperationalError("CREATE TABLE iceberg_tables", {}, Exception("table iceberg_tables already exists"))
        first(catalog)

    monkeypatch.setattr(SqlCatalog, "_init_catalog", lose_the_race)
    catalog = _link(tmp_path).open()
    assert len(calls) == 2
    catalog.create_namespace("sales")
    assert ("sales",) in catalog.list_namespaces()


def test_other_catalog_errors_are_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def broken(catalog: Any) -> None:
        calls.append(1)
        raise OperationalError("SELECT 1", {}, Exception("disk I/O error"))

    monkeypatch.setattr(SqlCatalog, "_init_catalog", broken)
    with pytest.raises(Exception, match="Cannot connect to the Iceberg catalog. Cause: .*disk I/O error"):
        _link(tmp_path).open()
    assert len(calls) == 1
