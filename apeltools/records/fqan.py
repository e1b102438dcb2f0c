"""VO, VO group and VO role derived from a VOMS FQAN, as the deployed loader derives them."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def split_fqan(fqan: str) -> tuple[str, str, str]:
    """(VO, VOGroup, VORole) of the primary part of an FQAN (the text before the first ``;``).

    Not starting with ``/``: the whole primary part is the VO. Otherwise the VO
    is the first path element, the group every non-empty element before the
    first ``Role=`` one (any case), and the role that element, verbatim.
    Exactly what the deployed loader stores, odd cases included: a
    ``Capability=`` element before any role stays in the group, and an empty
    first element gives an empty VO.

    >>> split_fqan("/atlas/Role=production/Capability=NULL")
    ('atlas', '/atlas', 'Role=production')
    >>> split_fqan("/atlas/uk/Role=NULL")
    ('atlas', '/atlas/uk', 'Role=NULL')
    >>> split_fqan("/wlcg")
    ('wlcg', '/wlcg', 'None')
    >>> split_fqan("dteam")
    ('dteam', 'None', 'None')
    >>> split_fqan("/atlas/Capability=NULL")
    ('atlas', '/atlas/Capability=NULL', 'None')
    """
    primary = fqan.split(";", 1)[0]
    if not primary.startswith("/"):
        return primary, "None", "None"
    elements = primary.split("/")
    group, role = "", "None"
    for element in elements:
        if not element:
            continue
        if element.lower().startswith("role="):
            role = element
            break
        group += "/" + element
    return elements[1], group, role
