"""Log parsers of the site client: one module per batch system, plus the CE's blah log."""
