"""The input names each connector (and the engine) declares as known cannot drift from the names the
code reads: every name written in the source is declared, and every name declared as read is read.
A name read but not declared would be refused when a job is saved; one declared as read but not read
would be accepted and silently ignored. The names CDM documents that mean nothing here are declared
apart, as ``Unused`` entries (tests/api/test_documented_inputs.py walks them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import opencdm
from opencdm.connectors import connector_names, get_connector, known_inputs
from opencdm.connectors.base import ConfigGroup
from opencdm.connectors.inputs import unused_names
from opencdm.engine.driver import DRIVER_UNUSED
from opencdm.engine.incremental import INCREMENTAL_INPUTS
from opencdm.service.jobs import DRIVER_INPUTS

SOURCE = Path(opencdm.__file__).parent
CONNECTOR_INPUT = re.compile(r"\b(?:linkConfig|fromJobConfig|toJobConfig)\.[A-Za-z0-9]+")
# Names built for either side of a job, e.g. f"{side}.fieldSeparator".
SIDE_INPUT = re.compile(r"\{side\}\.([A-Za-z0-9]+)")
DRIVER_INPUT = re.compile(r"\b(?!linkConfig|fromJobConfig|toJobConfig)[a-z][A-Za-z]*Config\.[A-Za-z0-9]+")
JOB_GROUPS: tuple[ConfigGroup, ...] = ("fromJobConfig", "toJobConfig")


def package_of(connector: str) -> str:
    """The folder of connectors/ the connector's class is written in."""
    return type(get_connector(connector)).__module__.split(".")[2]


# The connectors of each folder, from the registry: a new connector is checked with no line here.
PACKAGES = {
    package: tuple(name for name in connector_names() if package_of(name) == package)
    for package in dict.fromkeys(map(package_of, connector_names()))
}


def text_of(paths: list[Path]) -> str:
    return "\n".join(path.read_text() for path in paths)


def package_text(package: str) -> str:
    return text_of(sorted((SOURCE / "connectors" / package).glob("*.py")))


def known(connectors: tuple[str, ...], groups: tuple[ConfigGroup, ...]) -> set[str]:
    return {name for connector in connectors for group in groups for name in known_inputs(connector, group)}


def test_every_connector_is_a_folder_of_its_own() -> None:
    assert all((SOURCE / "connectors" / package).is_dir() for package in PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_input_a_connector_reads_is_declared(package: str) -> None:
    connectors = PACKAGES[package]
    declared = known(connectors, ("linkConfig", *JOB_GROUPS)) | INCREMENTAL_INPUTS
    text = package_text(package)
    assert set(CONNECTOR_INPUT.findall(text)) - declared == set()
    assert {name for name in SIDE_INPUT.findall(text)
            if not {f"{group}.{name}" for group in JOB_GROUPS} & declared} == set()


def declared_as_read(connectors: tuple[str, ...]) -> set[str]:
    return {name for connector in connectors
            for name in get_connector(connector).source_inputs | get_connector(connector).sink_inputs}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_job_input_a_connector_declares_is_read(package: str) -> None:
    text = package_text(package)
    read = set(CONNECTOR_INPUT.findall(text))
    sided = set(SIDE_INPUT.findall(text))
    for name in declared_as_read(PACKAGES[package]):
        assert name in read or name.split(".", 1)[1] in sided, name


@pytest.mark.parametrize("connector", connector_names())
def test_an_input_is_either_read_or_unused(connector: str) -> None:
    unused = unused_names(get_connector(connector).unused_inputs)
    assert unused & declared_as_read((connector,)) == set()
    assert len(unused) == len(get_connector(connector).unused_inputs)  # each listed once


def test_every_connector_input_named_anywhere_is_known_to_some_connector() -> None:
    """The API's examples, the CLI, the presentation of jobs: none names an input no connector knows."""
    everywhere = known(tuple(connector_names()), ("linkConfig", *JOB_GROUPS)) | INCREMENTAL_INPUTS
    named = set(CONNECTOR_INPUT.findall(text_of(sorted(SOURCE.rglob("*.py")))))
    assert named - everywhere == set()


def test_driver_inputs_are_those_read() -> None:
    read = set(DRIVER_INPUT.findall(text_of([SOURCE / "service" / "jobs.py", SOURCE / "engine" / "driver.py",
                                              SOURCE / "engine" / "timetable.py", SOURCE / "engine" / "batch.py"])))
    named = set(DRIVER_INPUT.findall(text_of(sorted(SOURCE.rglob("*.py")))))
    assert named - DRIVER_INPUTS - unused_names(DRIVER_UNUSED) == set()
    assert DRIVER_INPUTS - read == set()
    assert DRIVER_INPUTS & unused_names(DRIVER_UNUSED) == set()


def test_incremental_inputs_are_those_read() -> None:
    read = set(CONNECTOR_INPUT.findall((SOURCE / "engine" / "incremental.py").read_text()))
    assert {name for name in read if name.startswith("fromJobConfig.")} == INCREMENTAL_INPUTS


def test_docs_list_every_input_that_is_ignored_or_refused() -> None:
    """docs/inputs.md, the table users read, names each of them (in its group's row or alone)."""
    doc = (SOURCE.parents[1] / "docs" / "inputs.md").read_text()
    unused = {entry.name for connector in connector_names() for entry in get_connector(connector).unused_inputs}
    for name in unused | unused_names(DRIVER_UNUSED):
        assert f"`{name}`" in doc or f"`{name.split('.', 1)[1]}`" in doc, name
