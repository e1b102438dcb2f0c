"""``apel-load``: load messages from the incoming queue, or from files, into the database."""

import click

from apeltools import loader as loading
from apeltools.cli.common import command

DEFAULT_QUEUE = "/var/spool/apel/incoming"


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
                   f"[default: {loading.ONE_SHOT_MAX_WAIT:.0f}; as a daemon: for ever].")
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
    if db_config:
        ctx.config.read_db_file(db_config)
    settings = loading.LoadSettings.from_config(ctx.config, bool(sources), daemon, queue_dir, reject_dir, accepted_dir,
                                                interval, workers, max_wait, check_site, site_map, signer)
    loading.load(lambda: ctx.database(db_url), settings, sources, daemon,
                 lambda action: ctx.stop_on_signals(action, daemon=daemon))


if __name__ == "__main__":
    main()
