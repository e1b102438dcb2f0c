"""CSV with one row per event, the form most process-mining tools import (case, activity, time).

Columns: case_id, activity, lifecycle, timestamp (ISO 8601, UTC), resource,
then the job's attributes (user, vo, ce, queue, node, site, state,
exitcode) and its tags as ``key=value`` joined by ``;``.
"""

import csv

from apeltools.export import case_id, iso_time

COLUMNS = ("case_id", "activity", "lifecycle", "timestamp", "resource", "user", "vo", "ce", "queue", "node",
           "site", "state", "exitcode", "tags")


class CSVWriter:
    def __init__(self, out):
        self.writer = csv.writer(out, lineterminator="\n")

    def begin(self):
        self.writer.writerow(COLUMNS)

    def job(self, job, events):
        case = case_id(job)
        tags = ";".join(f"{key}={value}" for key, value in sorted(job.tags.items()))
        tail = (job.user, job.vo, job.ce, job.queue, job.node, job.site, job.shown_state, job.exit_code, tags)
        self.writer.writerows((case, e.activity, e.transition, iso_time(e.timestamp), e.resource) + tail
                              for e in events)

    def end(self):
        pass
