"""Asking a BDII (an LDAP server of GLUE 1 and GLUE 2 entries): connect, search, read values.

Shared by broker discovery (``messaging.brokers``) and the site's benchmarks
(``spec``); each passes the error class its callers expect.
"""

from __future__ import annotations

import math

GLUE1_BASE = "o=grid"
GLUE2_SUFFIX = "o=glue"
GLUE2_BASE = f"GLUE2GroupID=grid,{GLUE2_SUFFIX}"  # a top-level BDII's; a site BDII has no group level
LDAP_TIMEOUT = 30


def connect(bdii_url: str, error: type[Exception], timeout: float = LDAP_TIMEOUT):
    """A read-only, anonymous ldap3 connection; ``error`` when the BDII cannot be reached.

    ``timeout`` bounds the connection and each answer (seconds).
    """
    import ldap3

    timeout = max(1, math.ceil(timeout))  # ldap3 packs them into socket options as whole seconds
    try:
        server = ldap3.Server(bdii_url, connect_timeout=timeout, get_info=ldap3.NONE)
        return ldap3.Connection(server, auto_bind=True, receive_timeout=timeout, read_only=True)
    except ldap3.core.exceptions.LDAPException as failure:
        raise error(f"cannot query BDII {bdii_url}: {failure}") from None


def search(connection, base: str, query: str, attributes, error: type[Exception]) -> list[tuple[str, dict]]:
    """(dn, attributes) of the entries under ``base`` matching ``query``; none when ``base`` is absent."""
    import ldap3

    try:
        connection.search(base, query, search_scope=ldap3.SUBTREE, attributes=attributes)
    except ldap3.core.exceptions.LDAPNoSuchObjectResult:
        return []
    except ldap3.core.exceptions.LDAPException as failure:
        raise error(f"BDII search under {base} failed: {failure}") from None
    return [(entry["dn"], entry["attributes"]) for entry in connection.response or []
            if entry.get("type") == "searchResEntry"]


def values(attrs: dict, name: str) -> list:
    """The values of an attribute as a list (ldap3 gives a single value or a list)."""
    value = attrs.get(name) or []
    return [value] if isinstance(value, (str, bytes, int, float)) else list(value)
