"""A site's accounting run, for cron: parse → join → summarise → publish → send.

Each step is one apeltools program reading the same site configuration (etc/site.cfg), or the
existing parser.cfg / client.cfg / sender.cfg as they are. The first step that fails stops the run
with its exit status; every step is safe to run again, so the next run catches up.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from apeltools.config import Config
from apeltools.errors import ApelError

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "/etc/apeltools/site.cfg"
DEFAULT_OUTGOING = "/var/spool/apel/outgoing"


class StepFailed(ApelError):
    """A step's program failed; the run stops with its exit status."""

    def __init__(self, step: str, status: int):
        super().__init__(f"stopped: the {step} step failed (exit {status})")
        self.step, self.status = step, status


@dataclass(frozen=True)
class Step:
    name: str
    says: str  # what -v tells before the step
    argv: tuple[str, ...]
    quiet_stdout: bool = False


@dataclass(frozen=True)
class SiteRunSettings:
    """The files of a run and what the site configuration switches on."""

    config: str
    parser_config: str
    sender_config: str
    lock: str
    join: bool = True
    local_jobs: bool = False
    publish: bool = True
    dir_location: str = ""
    send: bool = True
    outgoing: str = DEFAULT_OUTGOING

    @classmethod
    def from_config(cls, site: Config, parser_config: str | None = None, sender_config: str | None = None,
                    lock: str | None = None) -> SiteRunSettings:
        """Settings from the loaded site configuration (``[joiner] enabled``, ``local_jobs``,
        ``[unloader] enabled``, ``dir_location``, ``[ssm] enabled``) and the sender configuration
        (``[messaging] outgoing_path``, else ``path``: the queue apel-send drains). Every value is
        read here, so that a bad one stops the run before any step; the parser configuration only
        has to be readable (apel-parse reads it)."""
        parser_config, sender_config = parser_config or site.path, sender_config or site.path
        Config.load(parser_config)
        sender = Config.load(sender_config, site.environ)
        return cls(
            config=site.path, parser_config=parser_config, sender_config=sender_config,
            lock=lock or os.path.join(tempfile.gettempdir(), f"apel-site-run-{os.getuid()}.lock"),
            join=site.get_bool("joiner", "enabled", True),
            local_jobs=site.get_bool("joiner", "local_jobs", False),
            publish=site.get_bool("unloader", "enabled", True),
            dir_location=site.get("unloader", "dir_location", ""),
            send=site.get_bool("ssm", "enabled", True),
            outgoing=sender.get("messaging", "outgoing_path") or sender.get("messaging", "path", DEFAULT_OUTGOING),
        )


def steps(settings: SiteRunSettings, verbosity: Sequence[str] = ()) -> list[Step]:
    """The programs of a run, in order: what the configuration switches off is left out."""
    site = ("--config", settings.config)
    chosen = [
        # A first run creates the database; later runs apply any new schema migration.
        Step("database", "", ("apeltools", "db", "init", *site), quiet_stdout=True),
        Step("parse", f"parsing the logs of {settings.parser_config}",
             ("apel-parse", "--config", settings.parser_config, *verbosity)),
    ]
    if settings.join:
        chosen.append(Step("join", "joining", ("apel-join", *site, *verbosity)))
    chosen.append(Step("summarise", "summarising", ("apel-summarise", *site, *verbosity)))
    if settings.publish:
        publish = ["apel-publish", *site]
        if settings.local_jobs:
            publish.append("--local-jobs")
        if not settings.dir_location:
            # No dir_location: publish straight into the queue that apel-send drains.
            publish += ["--queue", settings.outgoing]
        chosen.append(Step("publish", "publishing", (*publish, *verbosity)))
    if settings.send:
        chosen.append(Step("send", "sending", ("apel-send", "--config", settings.sender_config, *verbosity)))
    return chosen


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold the run's lock file, or fail at once when another run holds it."""
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ApelError(f"another apel-site-run holds {path}") from None
        yield


def run(settings: SiteRunSettings, verbosity: Sequence[str] = ()) -> None:
    """Run the steps one after the other; ``StepFailed`` for the first that fails.

    ``verbosity`` (``-v``, ``-q``) is passed on to each step's program.
    """
    # The programs read only the files named here, never the developer's or the system's default.
    environ = {name: value for name, value in os.environ.items() if name != "APELTOOLS_CONFIG"}
    with locked(settings.lock):
        for step in steps(settings, verbosity):
            if step.says:
                log.info("%s", step.says)
            done = subprocess.run(step.argv, env=environ,
                                  stdout=subprocess.DEVNULL if step.quiet_stdout else None, check=False)
            if done.returncode:
                raise StepFailed(step.name, done.returncode)
    log.info("done")
