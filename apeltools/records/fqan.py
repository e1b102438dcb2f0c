"""VO, VO group and VO role derived from a VOMS FQAN."""

from functools import lru_cache


@lru_cache(maxsize=4096)
def split_fqan(fqan):
    """(VO, VOGroup, VORole) of the primary part of an FQAN (the text before the first ``;``).

    >>> split_fqan("/atlas/Role=production/Capability=NULL")
    ('atlas', '/atlas', 'Role=production')
    >>> split_fqan("/atlas/uk/Role=NULL")
    ('atlas', '/atlas/uk', 'Role=NULL')
    >>> split_fqan("/wlcg")
    ('wlcg', '/wlcg', 'None')
    >>> split_fqan("dteam")
    ('dteam', 'None', 'None')
    """
    primary = fqan.split(";", 1)[0].strip()
    if not primary.startswith("/"):
        return primary, "None", "None"
    elements = [e for e in primary.split("/") if e]
    if not elements:
        return "None", "None", "None"
    group, role = [], "None"
    for element in elements:
        lowered = element.lower()
        if lowered.startswith("role="):
            role = element
            break
        if lowered.startswith("capability="):
            break
        group.append(element)
    return elements[0], "/" + "/".join(group) if group else "None", role
