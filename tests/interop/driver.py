"""Runs one step of the deployed APEL server library, for tests/interop (dev only).

This file is executed by the deployed tools' own Python (it needs their
dependencies: mysqlclient, dirq, iso8601, future), never imported by apeltools:

    python driver.py APEL_SRC STEP JSON_ARGS

Steps: ``load`` (the deployed loader's pass over ``<qpath>/incoming``),
``summarise`` (the deployed summariser's three procedures, in its order),
``summarise_cloud`` (its cloud procedure, SummariseVMs, on a cloud.sql database) and
``unload`` (the deployed unloader writing one view to ``<qpath>/outgoing``).
It prints one JSON object with what the step did.
"""

import json
import logging
import sys


def _db(args):
    from apel.db import ApelDb

    return ApelDb("mysql", args["host"], args["port"], args["user"], args["password"], args["db"])


def load(args):
    from apel.db.loader import Loader

    loader = Loader(args["qpath"], False, "mysql", args["host"], args["port"], args["db"],
                    args["user"], args["password"], args["pidfile"])
    loader.startup()
    try:
        loader.load_all_msgs()
    finally:
        loader.shutdown()
    return {}


def summarise(args):
    db = _db(args)
    db.summarise_jobs()
    db.normalise_summaries()
    db.copy_summaries()
    return {}


def summarise_cloud(args):
    _db(args).summarise_cloud()
    return {}


def unload(args):
    from apel.db.unloader import DbUnloader

    unloader = DbUnloader(_db(args), args["qpath"], local=args.get("local", False),
                          dict_records=args.get("dict_records", False))
    if args.get("latest"):
        messages, records = unloader.unload_latest(args["view"])
    else:
        messages, records = unloader.unload_all(args["view"])
    return {"messages": messages, "records": records}


STEPS = {"load": load, "summarise": summarise, "summarise_cloud": summarise_cloud, "unload": unload}


def _relaxed_sql_mode():
    """The deployed schema's views and procedures need a relaxed sql_mode (its known defect):
    every connection the deployed code opens gets one, as its operators set it server-wide."""
    import MySQLdb

    connect = MySQLdb.connect

    def relaxed(*args, **kwargs):
        kwargs.setdefault("init_command", "SET SESSION sql_mode = ''")
        return connect(*args, **kwargs)

    MySQLdb.connect = relaxed


def main():
    source, step, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    sys.path.insert(0, source)
    if args.get("relaxed"):
        _relaxed_sql_mode()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(STEPS[step](args)))


if __name__ == "__main__":
    main()
