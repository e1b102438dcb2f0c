"""Pages of jobs read through JobRecords' indexes (apeltools/db/job_pages.py) are exactly the jobs view's rows
in its order, sliced: for every filter, both served orders, and offsets that cross sites."""

import random

import pytest

from apeltools.query import Filters, ask
from apeltools.records.fields import month_bounds
from apeltools.records.types import JOB
from tests.test_summariser import job

# Sites stored out of name order, so that their ids' order is not their names' order.
SITES = ["SITE-Z", "SITE-B", "SITE-M", "SITE-A"]


@pytest.fixture
def stored(db):
    rng = random.Random(17)
    records = []
    start = month_bounds(2026, 2)[0]
    for n in range(240):
        # Every 11th job ends at the same time, at several sites: ties broken by the site's name.
        tie = dict(StartTime=start, EndTime=start + 5000, WallDuration=5000, CpuDuration=100) if n % 11 == 0 else {}
        records.append(job(rng, SITES[n % 4] if n % 7 else "SITE-B", 2026, 2 + n % 2, n, **tie))
    db.store(JOB, records, "/CN=apel.example.org")
    return db


FILTERS = [
    Filters(),
    Filters(dns=("/CN=user2",)),
    Filters(dns=("/CN=user1", "/CN=user3"), vos=("dteam",)),
    Filters(sites=("SITE-M", "SITE-A"), submit_hosts=("ce2.example.org",)),
    Filters(fqans=("/cms",), infrastructure="grid"),
    Filters(start=month_bounds(2026, 3)[0], end=month_bounds(2026, 3)[0] + 20 * 86400),
    Filters(dns=("/CN=nobody",)),
    Filters(sites=("NO-SITE",)),
]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("order", [None, ("Site", False), ("Site", True), ("EndTime", False), ("EndTime", True)])
def test_pages_are_the_views_rows_in_its_order(stored, filters, order):
    everything = ask(stored, "jobs", filters, order=order).rows  # no limit: the view itself
    assert len({tuple(row) for row in everything}) == len(everything)
    for size in (1, 7, 25):
        for offset in range(0, len(everything) + size, size):
            page = ask(stored, "jobs", filters, limit=size, offset=offset, order=order).rows
            assert page == everything[offset:offset + size], (size, offset)
