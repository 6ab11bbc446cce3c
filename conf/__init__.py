"""The Hydra configs of bggan, installed as the package ``bggan.conf`` (see ``pyproject.toml``).

This folder is the one place they are edited; ``bggan.cli.hydra_app.config_dir`` finds it from an
editable install and from a wheel alike.
"""
