"""Command-line tools, one module per command (see ``[project.scripts]``)."""
