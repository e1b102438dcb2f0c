"""Every configuration section and key: those the programs read and those the deployed files hold.

One registry, so that a key the programs do not know is noticed instead of
silently falling back to a default (``[laoder] msg_dri`` leaves the loader on
its default queue): :class:`~apeltools.config.Config` warns about such keys, and
``apeltools config check`` lists them and the values of a known kind that the
programs would refuse. A key of the deployed files that apeltools does not use
(``[unloader] table_name``, ``[daemon] pidfile``) is known too: those files are
accepted as they are. A program that reads a new key adds it here.
"""

from __future__ import annotations

import configparser
import difflib
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from apeltools.quoting import quote

TRUE = {"1", "yes", "true", "on"}
FALSE = {"0", "no", "false", "off"}


@dataclass(frozen=True)
class Kind:
    """What a key's value must be; :meth:`problem` says why a value is not that, or None."""

    name: str
    choices: tuple[str, ...] = ()

    def problem(self, value: str) -> str | None:
        text = value.strip()
        if self.name == "text" or (not text and self.name in ("path", "url", "date")):
            return None  # an empty path, URL or date is unset, as the programs read it
        if self.name == "bool":
            return None if text.lower() in TRUE | FALSE else "must be true or false (yes/no, on/off, 1/0)"
        if self.name in ("int", "number"):
            try:
                number = int(text) if self.name == "int" else float(text)
            except ValueError:
                return "must be a whole number" if self.name == "int" else "must be a number"
            return None if number >= 0 else "must not be negative"
        if self.name == "choice":
            return None if text.lower() in self.choices else f"must be one of {', '.join(self.choices)}"
        if self.name == "path":
            # The programs do not expand ~ and resolve a relative path against the directory they
            # start in, which under cron or systemd is not the one the operator had in mind.
            return None if os.path.isabs(text) else "must be an absolute path"
        if self.name == "url":
            return None if urlsplit(text).scheme and "://" in text else "must be a URL (scheme://...)"
        if self.name == "date":
            return None if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else "must be a date YYYY-MM-DD"
        raise AssertionError(self.name)


TEXT, BOOL, INT, NUMBER, PATH, URL, DATE = (Kind(name) for name in ("text", "bool", "int", "number", "path",
                                                                    "url", "date"))
LEVEL = Kind("choice", ("debug", "info", "warning", "error", "critical"))

# [blah], [batch] and every [parser:NAME]: one log each (apeltools.parsers.sources).
_LOG_SOURCE = {
    "enabled": BOOL, "type": TEXT, "dir": PATH, "filename_prefix": TEXT, "filename_pattern": TEXT,
    "glob": TEXT, "subdirs": BOOL, "reparse": BOOL, "parallel": BOOL, "timezone": TEXT,
    # The deployed parser.cfg's, unused here.
    "scale_host_factor": BOOL, "ge_ms_timestamps": BOOL,
}
_PROTOCOL = {"protocol": Kind("choice", ("stomp", "ams"))}

SECTIONS: dict[str, dict[str, Kind]] = {
    "db": {
        "url": URL, "backend": Kind("choice", ("mysql", "mariadb", "sqlite")), "hostname": TEXT, "port": INT,
        "name": TEXT, "username": TEXT, "password": TEXT, "password_file": PATH, "path": PATH,
        "type": TEXT,  # the deployed parser's, unused
    },
    "logging": {"logfile": PATH, "level": LEVEL, "console": BOOL},
    "loader": {
        "msgpath": PATH, "msg_dir": PATH, "reject_dir": PATH, "accepted_dir": PATH, "save_messages": BOOL,
        "pidfile": PATH, "interval": NUMBER, "workers": INT, "check_site": Kind("choice", ("off", "warn", "enforce")),
    },
    "summariser": {"pidfile": PATH, "delete_stale_summaries": BOOL, "stale_summary_window_days": INT},
    "unloader": {
        "enabled": BOOL, "dir_location": PATH, "send_summaries": BOOL, "send_ur": BOOL, "local_jobs": BOOL,
        "withhold_dns": BOOL, "include_vos": TEXT, "exclude_vos": TEXT,
        "interval": Kind("choice", ("latest", "gap", "all")), "gap_start": DATE, "gap_end": DATE,
        # The deployed unloader's, unused here.
        "table_name": TEXT, "dict_benchmark_type": BOOL, "include_infrastructure_description": BOOL,
        "decimal_cpu_count": BOOL, "records_per_message": INT,
    },
    "auth": {
        "gocdb_url": URL, "secondary-urls": TEXT, "service-types": TEXT, "dn-file": PATH, "site-map": PATH,
        "extra-dns": PATH, "banned-dns": PATH, "proxy": URL, "timeout": NUMBER, "max-age": NUMBER,
        "max-shrink": NUMBER, "production-only": BOOL, "interval": NUMBER,
        # The deployed auth's, unused here.
        "allowed-dns": PATH, "expire_hours": NUMBER,
    },
    "broker": {
        "bdii": URL, "network": TEXT, "host": TEXT, "port": INT, "hosts": TEXT, "use_ssl": BOOL,
        "username": TEXT, "password": TEXT, "password_file": PATH, "vhost": TEXT, "heartbeat": NUMBER,
    },
    "certificates": {
        "certificate": PATH, "key": PATH, "capath": PATH, "server_cert": PATH, "check_crls": BOOL,
        "verify_server_cert": BOOL,  # the deployed SSM's, unused
    },
    "messaging": {
        "destination": TEXT, "path": PATH, "path_type": Kind("choice", ("dirq",)),
        "outgoing_path": PATH, "dead_letter_path": PATH, "incoming_path": PATH, "reject_path": PATH,
        "dn_file": PATH, "transport": Kind("choice", ("stomp", "ams", "local")), "wire_path": PATH,
        "window": INT, "receipt_timeout": NUMBER, "max_message_size": INT, "interval": NUMBER,
        "ams_project": TEXT, "token": TEXT, "token_file": PATH, "ams_port": INT, "ams_authn_port": INT,
        "ams_batch": INT, "ams_max_request_bytes": INT, "ams_requests": INT, "ams_pull": INT,
        "ams_timeout": NUMBER,
    },
    "events": {  # apeltools.events
        "queue": PATH, "destination": TEXT, "subscription": TEXT,
        "transport": Kind("choice", ("stomp", "ams", "local")), "wire_path": PATH, "dead_letter_path": PATH,
    },
    "sender": _PROTOCOL,
    "receiver": _PROTOCOL,
    "daemon": {"pidfile": PATH},
    "site_info": {"site_name": TEXT, "lrms_server": TEXT},
    "spec_updater": {
        "enabled": BOOL, "site_name": TEXT, "ldap_host": TEXT, "ldap_port": INT, "lrms_server": TEXT,
        "spec_type": TEXT, "spec_value": NUMBER,
    },
    "joiner": {"enabled": BOOL, "local_jobs": BOOL, "local_submit_host": TEXT, "ce_type": TEXT, "chunk": INT},
    "ssm": {"enabled": BOOL},
    "parser": {"timezone": TEXT},
    "blah": _LOG_SOURCE,
    "batch": _LOG_SOURCE,
    "mail": {  # apeltools.mail
        "host": TEXT, "port": INT, "starttls": BOOL, "user": TEXT, "password_file": PATH, "from": TEXT,
        "cafile": PATH,
    },
    "serve": {"bind": TEXT, "workers": INT, "admin_dn_file": PATH, "dn_header": TEXT},  # apel-report serve
}
# Sections named NAME after a prefix, with the keys of another section.
PREFIXED_SECTIONS = {"parser:": "batch"}
# Keys named by a pattern (apeltools.ce_benchmarks: manual_spec1, manual_spec2, ...).
PATTERN_KEYS = {"spec_updater": (re.compile(r"^manual_spec\d*$"), TEXT)}


@dataclass(frozen=True)
class Problem:
    """A key the programs do not know, or a value they would refuse, in one file."""

    path: str
    section: str
    key: str | None
    message: str

    def __str__(self) -> str:
        section = quote(self.section, bare=True)
        where = f"[{section}] {quote(self.key, bare=True)}" if self.key else f"[{section}]"
        return f"{self.path}: {where}: {self.message}"


def known_keys(section: str) -> dict[str, Kind] | None:
    """The keys of ``section`` and their kinds, None for a section no program reads."""
    if section in SECTIONS:
        return SECTIONS[section]
    for prefix, like in PREFIXED_SECTIONS.items():
        if section.startswith(prefix) and len(section) > len(prefix):
            return SECTIONS[like]
    return None


def kind_of(section: str, key: str) -> Kind | None:
    """The kind of ``[section] key``, None when no program reads it."""
    keys = known_keys(section)
    if keys is None:
        return None
    if key in keys:
        return keys[key]
    pattern = PATTERN_KEYS.get(section)
    return pattern[1] if pattern and pattern[0].match(key) else None


def nearest(section: str, key: str | None) -> str | None:
    """The known ``[section] key`` (or ``[section]``) nearest to a mistyped one, None when none is near."""
    known = section if known_keys(section) is not None else _closest(section, SECTIONS)
    if key is None:
        return f"[{known}]" if known else None
    found = known and _closest(key, known_keys(known))
    if found:
        return f"[{known}] {found}"
    # A key in the wrong section, or a section far from any: the nearest key of any section.
    sections = {}
    for name, keys in SECTIONS.items():
        for known_key in keys:
            sections.setdefault(known_key, name)
    found = _closest(key, sections)
    return f"[{sections[found]}] {found}" if found else None


def _closest(word: str, candidates) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown(parser: configparser.ConfigParser, path: str) -> list[Problem]:
    """The sections and keys of ``parser`` (read from ``path``) that no program reads."""
    problems = []
    defaults = set(parser.defaults())
    for key in sorted(defaults):
        if not any(key in keys for keys in SECTIONS.values()):
            problems.append(_unknown(path, configparser.DEFAULTSECT, key))
    for section in parser.sections():
        keys = [key for key in parser.options(section) if key not in defaults]
        if known_keys(section) is None and not keys:
            hint = nearest(section, None)
            problems.append(Problem(path, section, None, "unknown section" + (f" (did you mean {hint}?)"
                                                                               if hint else "")))
        problems.extend(_unknown(path, section, key) for key in keys if kind_of(section, key) is None)
    return problems


def _unknown(path: str, section: str, key: str) -> Problem:
    known_section = section == configparser.DEFAULTSECT or known_keys(section) is not None
    what = "unknown key" if known_section else f"unknown section [{quote(section, bare=True)}]"
    hint = nearest(section, key)
    return Problem(path, section, key, what + (f" (did you mean {hint}?)" if hint else ""))


def check(parser: configparser.ConfigParser, path: str) -> list[Problem]:
    """Every unknown section and key of ``parser`` and every known key whose value is not of its kind."""
    problems = unknown(parser, path)
    for section in parser.sections():
        for key in parser.options(section):
            kind = kind_of(section, key)
            message = kind and kind.problem(parser.get(section, key, raw=True))
            if message:
                problems.append(Problem(path, section, key, f"{message}, not {quote(parser.get(section, key, raw=True))}"))
    return problems
