"""Importing a deployed APEL database (a repository or a site) into ours, resumably and verifiably.

Each source table is read in primary-key order, a page at a time; every row is
turned into a record of our record type and checked exactly as apel-load checks
a record; the good ones are written by the loader's own bulk path (replace by
natural key), and the page's last key is kept in the same transaction. Killed
at any moment, the next run continues after the last committed page, and
re-reading a page stores the same rows again (nothing doubles). Job records,
the bulk of a repository, go faster into MySQL (``jobs``): the checks run once
per distinct combination of their repeating values and the rows become LOAD
DATA lines straight from the server's text; ``workers`` processes each import
a range of the keys.

A row our checks refuse is never dropped silently: it is listed with its
table, key and reason (ImportIssues), and ``invalid="import"`` stores it as it
was when our tables can hold it (marked 'imported' in that list) instead of
holding it back. At the end the monthly sums are recomputed from what was
imported and compared with the source's own super-summaries per site and
month; differences are listed, not hidden.

``Importer(source, target, ...).run()`` does it and returns an ``ImportReport``;
``apeltools db import-apel`` is its command.
"""

from apeltools.importer.importer import DEFAULT_BATCH, POLICIES, Importer
from apeltools.importer.report import ImportReport

__all__ = ["DEFAULT_BATCH", "POLICIES", "Importer", "ImportReport"]
