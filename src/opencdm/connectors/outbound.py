"""Hosts that links may reach over the network: every database server, catalog and object storage a
link names, checked when the link is created, validated or updated and again whenever a run opens
it (names may resolve differently by then).

Two rules (docs/security.md):

- The metadata store (OPENCDM_DATABASE_URL) is never reachable: a link to its database would let
  a user of one project read every project's users and keys, and make themselves a member of any
  project. Hosts are compared by the addresses they resolve to, so that no spelling of a name
  (``127.1``, ``[::ffff:127.0.0.1]``, ``2130706433``, the machine's own name …) gets through, and
  when the store runs on this machine, every address of this machine counts as the store's host.
  On a PostgreSQL store, other databases of its server stay reachable (PostgreSQL has no query
  across databases); on a MariaDB/MySQL store, no database of its server is (one connection reads
  every database its user may).
- With OPENCDM_LINK_ALLOW set (host names, addresses and networks), every address a link's host
  resolves to must be one of them; unset, any host may be reached.

Local paths (SQLite files, nas roots, unix sockets) follow connectors/local_paths.py instead.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

from opencdm.connectors.local_paths import allowed_local_path
from opencdm.errors import CdmError
from opencdm.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

POSTGRESQL_PORT = 5432
MYSQL_PORT = 3306
# PostgreSQL cuts the database name of a connection to NAMEDATALEN - 1 bytes before it looks it up.
_PG_NAME_BYTES = 63


@dataclass(frozen=True)
class DatabaseServer:
    """Where a connection to a database server goes: ``hosts`` as the driver is given them (names,
    addresses, or unix-socket directories), one port, and the database (None: every database of
    the server)."""

    hosts: tuple[str, ...]
    port: int
    database: str | None


def is_socket_host(host: str) -> bool:
    """libpq reads a host starting with "/" (a directory) or "@" (an abstract name) as a unix socket."""
    return host.startswith(("/", "@"))


def resolve(host: str) -> frozenset[Address]:
    """Every address ``host`` resolves to (empty when it does not), IPv4-mapped IPv6 as IPv4."""
    return frozenset(resolve_in_order(host))


def resolve_in_order(host: str) -> tuple[Address, ...]:
    """``resolve``, in the order the resolver prefers them (the order a driver tries them in)."""
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):  # unknown name, or one no resolver accepts
        return ()
    addresses: dict[Address, None] = {}
    for *_, sockaddr in found:
        # A link-local IPv6 address keeps its zone (the interface), without which it leads nowhere.
        zone = f"%{sockaddr[3]}" if len(sockaddr) == 4 and sockaddr[3] else ""
        address = ipaddress.ip_address(f"{sockaddr[0]}{zone}")
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        addresses[mapped or address] = None
    return tuple(addresses)


def is_this_machine(address: Address) -> bool:
    """Whether a connection to ``address`` stays on this machine: loopback, "any" (0.0.0.0, ::), or
    an address of one of its interfaces (the only ones a socket can be bound to)."""
    if address.is_loopback or address.is_unspecified:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError:
            return False
    return True


def database_server(url: URL) -> DatabaseServer | None:
    """The server a SQLAlchemy URL connects to (the metadata store's, a SQL catalog's); None for
    SQLite (a local path)."""
    backend = url.get_backend_name()
    default_hosts: list[str] = []
    if backend == "postgresql":
        # What the URL leaves out, libpq takes from PGHOST, PGPORT, PGDATABASE, PGUSER, then its
        # defaults (a unix socket, 5432, the user's name, the OS user's); psycopg hands the query
        # to libpq, where ?dbname= wins.
        default_hosts = [host for host in os.environ.get("PGHOST", "").split(",") if host]
        port = next((int(p) for p in os.environ.get("PGPORT", "").split(",") if p.isdigit()), POSTGRESQL_PORT)
        database: str | None = next(iter(_query_values(url, "dbname")), None) or (
            url.database or os.environ.get("PGDATABASE") or url.username or os.environ.get("PGUSER")
            or getpass.getuser()
        )
    elif backend in ("mysql", "mariadb"):
        port, database = MYSQL_PORT, None
    else:
        return None
    hosts = [url.host] if url.host else []
    # psycopg takes further hosts (or a socket directory) as ?host=name[:port]; pymysql ?unix_socket=.
    for key in ("host", "unix_socket"):
        hosts += _query_values(url, key)
    # No host at all: the driver's default unix socket, on this machine.
    named = [_host_and_port(host) for host in hosts or default_hosts] or [("/", None)]
    query_ports = [int(value) for value in _query_values(url, "port") if value.isdigit()]
    ports = [url.port, *(host_port for _, host_port in named), *query_ports]
    return DatabaseServer(
        tuple(host for host, _ in named), next((p for p in ports if p is not None), port), database
    )


def _host_and_port(host: str) -> tuple[str, int | None]:
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and not is_socket_host(host) and ":" not in name:
        return name, int(port)
    return host, None


def _query_values(url: URL, key: str) -> list[str]:
    value = url.query.get(key)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def check_database_link(name: str, server: DatabaseServer) -> tuple[tuple[str, str], ...]:
    """Refuse a link (``name``: its input that names the host) to a database ``server`` that reaches
    the metadata store, or a host outside OPENCDM_LINK_ALLOW; unix sockets must be allowed local
    paths. Cdm.0014, naming the host as the link gives it (never a password).

    The (host, address) pairs checked, in the order to try them ("" for a unix socket): a driver
    that connects to these addresses, rather than resolving the names again, connects where the
    check looked. A host that resolves to nothing has none: it cannot be reached."""
    settings = Settings.from_env()
    store = database_server(make_url(settings.database_url))
    checked: list[tuple[str, str]] = []
    for host in server.hosts:
        if is_socket_host(host):
            in_order: tuple[Address, ...] = ()
            checked.append((allowed_local_path(name, host), ""))  # the directory, symlinks resolved
        else:
            in_order = resolve_in_order(host)
            _check_allowed(name, host, frozenset(in_order), settings.link_allow)
            checked += [(host, str(address)) for address in in_order]
        if store is not None and _reaches_store(host, frozenset(in_order), server, store):
            if store.database is None:
                what = f"port {server.port}: the database server of this server's own metadata store"
            else:
                what = f"port {server.port} database [{server.database}]: this server's own metadata store"
            raise CdmError(
                "Cdm.0014",
                f"The parameter is invalid: {name} names host [{host}] {what} (OPENCDM_DATABASE_URL), "
                "which no link can reach.",
            )
    return tuple(checked)


def check_endpoint(name: str, host: str) -> None:
    """Refuse an HTTP(S) endpoint (object storage, REST catalog) outside OPENCDM_LINK_ALLOW."""
    _check_allowed(name, host, resolve(host), Settings.from_env().link_allow)


def _reaches_store(host: str, addresses: frozenset[Address], server: DatabaseServer, store: DatabaseServer) -> bool:
    if server.port != store.port:
        return False
    # A MariaDB/MySQL store (database None): every database of its server leads to it.
    if store.database is not None and server.database is not None and (
        _pg_name(server.database) != _pg_name(store.database)
    ):
        return False
    store_addresses = frozenset().union(*(resolve(h) for h in store.hosts if not is_socket_host(h)))
    if addresses & store_addresses:
        return True
    store_is_local = any(is_socket_host(h) for h in store.hosts) or any(map(is_this_machine, store_addresses))
    link_is_local = is_socket_host(host) or any(map(is_this_machine, addresses))
    if store_is_local and link_is_local:
        return True
    # A name that resolves to nothing now reaches nothing; the next check (the run's) resolves it again.
    return host.lower() in (h.lower() for h in store.hosts)


def _pg_name(database: str) -> bytes:
    return database.encode()[:_PG_NAME_BYTES]


def _check_allowed(name: str, host: str, addresses: frozenset[Address], allow: tuple[str, ...] | None) -> None:
    if allow is None:
        return
    names = [entry for entry in allow if _network(entry) is None]
    if host.strip("[]").lower() in (entry.lower() for entry in names):
        return  # a name the operator trusts, whatever it resolves to
    networks = [network for network in map(_network, allow) if network is not None]
    named = frozenset().union(*(resolve(entry) for entry in names))
    outside = sorted(str(a) for a in addresses if a not in named and not _within(a, networks))
    if addresses and not outside:
        return
    found = f"resolves to {', '.join(outside)}" if addresses else "resolves to no address"
    raise CdmError(
        "Cdm.0014",
        f"The parameter is invalid: {name} names host [{host}], which {found}: links on this server may "
        "reach only the hosts and networks its operator lists in OPENCDM_LINK_ALLOW.",
    )


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _within(address: Address, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)
