"""Which log files to parse, as the configuration describes them.

Three kinds of sections, all with the keys of the existing ``parser.cfg``:

* ``[blah]``: the CE's accounting log (``enabled``, ``dir``, ``filename_prefix``, ``subdirs``);
* ``[batch]``: one batch system (the same keys plus ``type``, ``reparse``, ``parallel``);
* ``[parser:NAME]``: one more log each, for a site with several batch systems
  (``type`` defaults to NAME).

A file is parsed when its name starts with ``filename_prefix``, matches the
regular expression ``filename_pattern``, or matches the shell pattern ``glob``
(all files when none is set), in ``dir`` and, with ``subdirs = true``, below it.
``reparse = true`` reads every file again from its start (records replace
themselves by their keys). ``parallel = false`` makes the PBS, SGE and LSF
parsers store 0 processors and 0 nodes, as the deployed ones do; in ``[batch]``,
the deployed section, an absent ``parallel`` means false as it does there, in
``[parser:NAME]`` true (cores and nodes recorded). ``[site_info] lrms_server``,
when set, is the ``MachineName`` of every batch record, as with the deployed parser.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from dataclasses import dataclass

from apeltools.errors import ConfigError
from apeltools.quoting import quote

log = logging.getLogger(__name__)

PREFIX = "parser:"


@dataclass(frozen=True)
class LogSource:
    """One configured log: its section, parser type, where its files are and how they are named."""

    section: str
    type: str
    directory: str
    prefix: str | None = None
    pattern: str | None = None  # regular expression on file names
    glob: str | None = None  # shell pattern on file names
    subdirs: bool = False
    reparse: bool = False
    timezone: str | None = None
    machine_name: str | None = None  # [site_info] lrms_server: every batch record's MachineName
    parallel: bool = True  # false: 0 processors and nodes where the parser honours it (PBS, SGE, LSF)

    def matches(self, name):
        if self.prefix and not name.startswith(self.prefix):
            return False
        if self.pattern and not re.match(self.pattern, name):
            return False
        return not self.glob or fnmatch.fnmatchcase(name, self.glob)

    def files(self):
        """The matching files, sorted by path (a missing directory is a warning: nothing to read yet)."""
        if not os.path.isdir(self.directory):
            log.warning("[%s] dir %s is not a directory: no %s logs parsed", self.section, self.directory,
                        self.type)
            return []
        if self.subdirs:
            walked = ((root, names) for root, _, names in os.walk(self.directory))
        else:
            walked = [(self.directory, os.listdir(self.directory))]
        return sorted(os.path.join(root, name) for root, names in walked for name in names
                      if self.matches(name) and os.path.isfile(os.path.join(root, name)))


def _source(config, section, kind):
    directory = config.get(section, "dir")
    if not directory:
        raise ConfigError(f"[{section}] needs dir = <directory of the {kind} logs>")
    pattern = config.get(section, "filename_pattern") or None
    if pattern:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ConfigError(f"[{section}] filename_pattern {quote(pattern)} is not a regular expression: {error}") from None
    return LogSource(
        section=section,
        type=kind,
        directory=directory,
        prefix=config.get(section, "filename_prefix") or None,
        pattern=pattern,
        glob=config.get(section, "glob") or None,
        subdirs=config.get_bool(section, "subdirs", False),
        reparse=config.get_bool(section, "reparse", False),
        timezone=config.get(section, "timezone") or config.get("parser", "timezone") or None,
        machine_name=config.get("site_info", "lrms_server") or None,
        parallel=config.get_bool(section, "parallel", section != "batch"),
    )


def configured(config):
    """Every enabled ``LogSource`` of the configuration: ``[blah]``, ``[batch]``, then ``[parser:NAME]``."""
    found = []
    if config.parser.has_section("blah") and config.get_bool("blah", "enabled", True):
        found.append(_source(config, "blah", "blah"))
    if config.parser.has_section("batch") and config.get_bool("batch", "enabled", True):
        kind = (config.get("batch", "type") or "").strip()
        if not kind:
            raise ConfigError("[batch] needs type = SLURM, PBS, SGE, LSF or HTCondor")
        found.append(_source(config, "batch", kind.lower()))
    for section in config.parser.sections():
        if section.startswith(PREFIX) and config.get_bool(section, "enabled", True):
            kind = (config.get(section, "type") or section[len(PREFIX):]).strip().lower()
            found.append(_source(config, section, kind))
    return found
