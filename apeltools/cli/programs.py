"""Every program apeltools installs, and the ``apeltools`` subcommands; read by setup.py too.

Kept free of imports so that packaging can read it before anything is installed.
"""

# Console script → "module:click command".
CONSOLE_SCRIPTS = {
    "apeltools": "apeltools.cli.main:main",
    "apel-load": "apeltools.cli.load:main",
    "apel-send": "apeltools.cli.send:main",
    "apel-receive": "apeltools.cli.receive:main",
    "apel-parse": "apeltools.cli.parse:main",
    "apel-join": "apeltools.cli.join:main",
}

# ``apeltools <name>`` → "module:click command". Every apel-* program is also a subcommand.
SUBCOMMANDS = {
    name[len("apel-"):]: target for name, target in CONSOLE_SCRIPTS.items() if name.startswith("apel-")
}
SUBCOMMANDS.update({
    "db": "apeltools.cli.db:main",
    "demo": "apeltools.cli.demo:main",
})

# Man pages: each console script, plus the subcommands that are not programs of their own.
MAN_PAGES = dict(CONSOLE_SCRIPTS)
MAN_PAGES.update({"apeltools db": SUBCOMMANDS["db"], "apeltools demo": SUBCOMMANDS["demo"]})
