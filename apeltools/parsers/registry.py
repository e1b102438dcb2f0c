"""Which parser reads which log: the built-in ones and plugins from the ``apeltools.parsers``
entry point group.

A site adds its own batch system without touching apeltools by installing a
package that declares, in its setup.py::

    entry_points={"apeltools.parsers": ["mybatch = mysite.parser:MyBatchParser"]}

where ``MyBatchParser`` subclasses ``apeltools.parsers.base.Parser``. Then
``apel-parse mybatch FILE`` uses it.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from apeltools.errors import ConfigError
from apeltools.parsers.base import Parser
from apeltools.quoting import quote

GROUP = "apeltools.parsers"
# The built-in parsers, also declared as entry points in setup.py; listed here
# too so that a source checkout works before it is installed.
BUILTIN = {
    "blah": "apeltools.parsers.blah:BlahParser",
    "slurm": "apeltools.parsers.slurm:SlurmParser",
    "pbs": "apeltools.parsers.pbs:PBSParser",
    "sge": "apeltools.parsers.sge:SGEParser",
    "lsf": "apeltools.parsers.lsf:LSFParser",
    "htcondor": "apeltools.parsers.htcondor:HTCondorParser",
}
ALIASES = {"torque": "pbs", "oge": "sge", "univa": "sge", "condor": "htcondor"}


def _targets() -> dict[str, str]:
    targets = dict(BUILTIN)
    for entry in entry_points(group=GROUP):
        targets[entry.name] = entry.value
    return targets


def names() -> list[str]:
    """Every parser name that ``get`` accepts, aliases included, sorted."""
    return sorted(set(_targets()) | set(ALIASES))


def get(name: str) -> type[Parser]:
    """The parser class called ``name`` (case-insensitive)."""
    key = ALIASES.get(name.lower(), name.lower())
    target = _targets().get(key)
    if target is None:
        raise ConfigError(f"no parser {quote(name)}: known ones are {', '.join(names())}")
    module, _, attribute = target.partition(":")
    try:
        parser: type[Parser] = getattr(import_module(module), attribute)
        return parser
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"parser {name!r} ({target}) cannot be loaded: {error}") from None
