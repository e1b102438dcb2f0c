"""Every program apeltools installs, and the ``apeltools`` subcommands; read by setup.py too.

Kept free of imports so that packaging can read it before anything is installed.
"""

# Console script → "module:click command".
CONSOLE_SCRIPTS = {
    "apeltools": "apeltools.cli.main:main",
    "apel-load": "apeltools.cli.load:main",
    "apel-summarise": "apeltools.cli.summarise:main",
    "apel-publish": "apeltools.cli.publish:main",
    "apel-query": "apeltools.cli.query:main",
    "apel-send": "apeltools.cli.send:main",
    "apel-receive": "apeltools.cli.receive:main",
    "apel-events": "apeltools.cli.events:main",
    "apel-parse": "apeltools.cli.parse:main",
    "apel-join": "apeltools.cli.join:main",
    "apel-auth": "apeltools.cli.auth:main",
    "apel-report": "apeltools.cli.report:main",
    "apel-metrics-to-nagios": "apeltools.cli.metrics_to_nagios:main",
    "apel-tag": "apeltools.cli.tag:main",
    "apel-export": "apeltools.cli.export:main",
    "apel-site-run": "apeltools.cli.site_run:main",
    "check_apel_pub": "apeltools.probes.pub:main",
    "check_apel_sync": "apeltools.probes.sync:main",
    "check_apel_queue": "apeltools.probes.queue:main",
    "check_apel_loader": "apeltools.probes.loader:main",
    "check_apel_cert": "apeltools.probes.cert:main",
    "check_apel_broker": "apeltools.probes.broker:main",
}

# ``apeltools <name>`` → "module:click command". Every apel-* program is also a subcommand.
SUBCOMMANDS = {
    name[len("apel-"):]: target for name, target in CONSOLE_SCRIPTS.items() if name.startswith("apel-")
}
SUBCOMMANDS.update({
    "db": "apeltools.cli.db:main",
    "demo": "apeltools.cli.demo:main",
    "config": "apeltools.cli.config:main",
})

# Man pages: each console script, plus the subcommands that are not programs of their own.
MAN_PAGES = dict(CONSOLE_SCRIPTS)
MAN_PAGES.update({"apeltools db": SUBCOMMANDS["db"], "apeltools demo": SUBCOMMANDS["demo"],
                  "apeltools config": SUBCOMMANDS["config"]})
