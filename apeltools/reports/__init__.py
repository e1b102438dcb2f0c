"""Reports rendered from the repository database with jinja2 templates (``templates/``)."""

import jinja2

environment = jinja2.Environment(
    loader=jinja2.PackageLoader("apeltools.reports", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
