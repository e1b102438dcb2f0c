"""Reports rendered from the repository database with jinja2 templates (``templates/``)."""
