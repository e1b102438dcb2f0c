"""``apel-load``: load messages from the incoming queue, or from files, into the database."""

import logging

import click

from apeltools import loader as loading
from apeltools.authz import sitemap
from apeltools.cli.common import command
from apeltools.db.schema import require_schema
from apeltools.errors import ApelError, TransientDatabaseError
from apeltools.messaging import queues
from apeltools.retry import Backoff, Interrupted

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "/var/spool/apel/incoming"
ONE_SHOT_MAX_WAIT = 600.0


def _read(path):
    """(text, problem) of a file holding one message; ``-`` is stdin."""
    try:
        with click.open_file(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ApelError(f"cannot read {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        return data.decode("utf-8", errors="backslashreplace"), f"message is not UTF-8 text: {error}"


@command(
    "apel-load",
    epilog="""\b
Examples:
  apel-load --db mysql://apel@db.example.org/apelserver --daemon
  apel-load --config /etc/apel/loader.cfg --db-config /etc/apel/db.cfg --daemon
  apel-load --db sqlite:///var/lib/apeltools/apel.db message1.txt message2.txt
  apel-publish ... --stdout | apel-load --db sqlite:///tmp/test.db --signer /CN=me -
""",
)
@click.argument("sources", nargs=-1, metavar="[FILE|-]...")
@click.option("--db", "db_url", metavar="URL", help="Database URL [default: [db] of the configuration].")
@click.option("--db-config", metavar="FILE",
              help="Read [db] from this file instead, as the deployed loader reads its db.cfg "
                   "(apeldbloader -d db.cfg -c loader.cfg is apel-load --db-config db.cfg --config loader.cfg).")
@click.option("--queue", "queue_dir", metavar="DIR",
              help="Incoming queue to load [default: [loader] msg_dir, else <[loader] msgpath>/incoming "
                   "(the deployed loader.cfg), else the queue apel-receive fills from the same file: "
                   f"[messaging] incoming_path, else <[messaging] path>/incoming, else {DEFAULT_QUEUE}].")
@click.option("--reject", "reject_dir", metavar="DIR",
              help="Reject queue for what cannot be loaded [default: [loader] reject_dir, else "
                   f"<[loader] msgpath>/reject, else {loading.DEFAULT_REJECT}; with files and none of "
                   "these: none, rejects are only reported].")
@click.option("--save-accepted", "accepted_dir", metavar="DIR",
              help="Also keep every loaded message in this queue (same layout as the incoming queue) "
                   "[default: with [loader] save_messages = true, [loader] accepted_dir, else 'accept' "
                   "beside the incoming queue].")
@click.option("--daemon", is_flag=True, help="Keep running, polling the queue, until SIGTERM.")
@click.option("--interval", type=float, metavar="SECONDS",
              help="Seconds between polls of the queue as a daemon [default: 5].")
@click.option("--workers", type=click.IntRange(1, 64), metavar="N",
              help="Load the queue with N processes in parallel, to use more cores [default: [loader] "
                   "workers, else 1].")
@click.option("--signer", metavar="DN", help="Publisher DN to record for messages loaded from files.")
@click.option("--check-site", type=click.Choice(["off", "warn", "enforce"]),
              help="Check that the signer's host belongs (in GOCDB, from apel-auth's site map) to each "
                   "record's Site: warn only, or enforce by rejecting the other records "
                   "[default: [loader] check_site, else off].")
@click.option("--site-map", metavar="FILE",
              help="DN → sites map written by apel-auth [default: [auth] site-map, else "
                   "<[auth] dn-file>.sites.json, else /etc/apel/dns.sites.json].")
@click.option("--max-wait", type=float, metavar="SECONDS",
              help="How long to wait for an unavailable database before giving up "
                   f"[default: {ONE_SHOT_MAX_WAIT:.0f}; as a daemon: for ever].")
def main(ctx, sources, db_url, db_config, queue_dir, reject_dir, accepted_dir, daemon, interval, workers, signer,
         check_site, site_map, max_wait):
    """Load accounting messages into the database.

    Without FILE arguments, loads every message waiting in the incoming queue
    (the directory queue that apel-receive writes), once or, with --daemon,
    continuously. With FILE arguments (or - for stdin), loads each file as one
    message.

    Every record replaces the stored record with the same natural key, so
    loading a message twice changes nothing. Bad records go to the reject
    queue with the reason, while the good records of the same message load. A
    database that is down is waited for: messages are never rejected or lost
    because of it. Several apel-load processes may share one queue and one
    database.
    """
    config = ctx.config
    if daemon and sources:
        raise click.UsageError("--daemon loads the queue; it takes no FILE arguments")
    interval = interval if interval is not None else config.get_float("loader", "interval", 5.0)
    workers = workers or int(config.get_float("loader", "workers", 1))
    if max_wait is None and not daemon:
        max_wait = ONE_SHOT_MAX_WAIT
    backoff = Backoff(give_up_after=max_wait)
    ctx.stop_on_signals(backoff.stop.set, daemon=daemon)

    if db_config:
        config.read_db_file(db_config)
    paths = loading.LoaderQueues.from_config(config, queue_dir, reject_dir, accepted_dir, files=bool(sources))
    queue_dir = paths.incoming
    rejects = queues.reject_queue(paths.reject) if paths.reject else None
    accepted = queues.incoming_queue(paths.accepted) if paths.accepted else None
    check_site = (check_site or config.get("loader", "check_site") or "off").strip().lower()
    site_map = (site_map or config.get("auth", "site-map")
                or sitemap.default_path(config.get("auth", "dn-file") or "/etc/apel/dns"))
    site_check = sitemap.site_check(check_site, site_map)

    def work():
        with ctx.database(db_url) as db:
            loader = loading.Loader(db, rejects=rejects, accepted=accepted, backoff=backoff, site_check=site_check)
            try:
                backoff.call(lambda: require_schema(db), TransientDatabaseError, "checking the database")
                if sources:
                    loader.run(loading.file_items(sources, signer, _read))
                elif daemon:
                    loading.run_daemon(loader, queues.incoming_queue(queue_dir), interval)
                else:
                    loading.load_queue(loader, queues.incoming_queue(queue_dir), show_progress=workers == 1 and None)
            except Interrupted as stop:
                if str(stop) != "stopped":
                    log.info(loader.tally.summary())
                    raise ApelError(f"database unavailable, stopped loading: {stop}") from None
            return loader.tally

    if workers > 1 and not sources:
        tally = loading.in_processes(workers, work)
    else:
        tally = work()
    log.info(tally.summary())
    if sources and rejects is None and (tally.rejected_records or tally.rejected_messages):
        raise ApelError(
            f"{tally.rejected_records} records and {tally.rejected_messages} messages were rejected "
            "(see above; give --reject DIR to keep them)"
        )


if __name__ == "__main__":
    main()
