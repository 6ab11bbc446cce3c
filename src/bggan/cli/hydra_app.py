"""What the Hydra commands share (``bggan-train``, ``bggan-export``, ``bggan-eval --data``): where the
configs are, and Hydra's usage errors as one line with exit code 2, like every other bad input."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from bggan.errors import BgganError

#: Lines of Hydra's messages that say nothing about the mistake itself.
_NOISE = ("Config search path", "provider=", "Set the environment variable HYDRA_FULL_ERROR", "See https://hydra.cc")


def config_dir() -> Path:
    """The Hydra configs: ``$BGGAN_CONF`` if set, else the ``bggan.conf`` package.

    ``bggan.conf`` is the repository's top-level ``conf/`` folder: a wheel carries it as package data,
    and an editable install maps the package to the folder itself, so edits there take effect at once.
    """
    if os.environ.get("BGGAN_CONF"):
        return Path(os.environ["BGGAN_CONF"]).resolve()
    spec = importlib.util.find_spec("bggan.conf")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[3] / "conf"  # a source tree on PYTHONPATH, not installed


def group_choices(group: str) -> list[str]:
    """The config names of a group (``stage`` -> ``["adversarial", "pretrain"]``) in :func:`config_dir`."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def hydra_error_line(error: BaseException) -> str:
    """One line for a Hydra or OmegaConf error, naming the key or group and what is allowed there."""
    from hydra.errors import InstantiationException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    cause = error.__cause__
    missing = getattr(error, "missing_cfg_file", None)
    if isinstance(error, MissingConfigException) and missing and "/" in missing and not missing.startswith("hydra/"):
        group, _, choice = missing.rpartition("/")
        options = error.options or group_choices(group)
        allowed = f"{group} is one of: {', '.join(options)}" if options else f"there is no config group {group}"
        return f"{group}={choice}: no such choice; {allowed}"
    if isinstance(cause, ConfigAttributeError | ConfigKeyError) and "not in struct" in str(cause):
        key, parent = cause.full_key, cause.parent_node
        keys = [str(k) for k in (parent.keys() if parent is not None else []) if not str(k).startswith("_")
                and k != "hydra"]
        where = key.rpartition(".")[0] or "the config"
        return f"{key}: no such key (the keys of {where}: {', '.join(keys)})"
    if isinstance(error, OverrideParseException):
        detail = [line.strip() for line in str(error).splitlines()
                  if line.strip() and not line.startswith(_NOISE) and not line.startswith("Error parsing override")]
        return (f"cannot parse override '{error.override}': {' '.join(detail)}; overrides look like key=value, "
                "group=choice, +new_key=value or ~key")
    if isinstance(error, InstantiationException) and isinstance(cause, Exception):
        target = re.search(r"target '([^']+)'", str(error))
        key = re.search(r"full_key: (\S+)", str(error))
        what = f" ({target[1]})" if target else ""
        kind = "" if isinstance(cause, ValueError | TypeError) else f"{type(cause).__name__}: "
        return f"{key[1] if key else 'config'}{what}: {kind}{str(cause).strip().splitlines()[0]}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.strip().startswith(_NOISE)]
    if isinstance(cause, Exception) and str(cause).strip():
        lines += [line.strip() for line in str(cause).splitlines()[:1] if line.strip() not in " ".join(lines)]
    return " ".join(lines) or type(error).__name__


#: "1" when the user asked Hydra for full tracebacks (``HYDRA_FULL_ERROR=1``) before this module set it itself.
_TRACEBACK_WANTED = "_BGGAN_HYDRA_TRACEBACK"


def _fail(prog: str, error: Exception) -> None:
    """Print ``prog: error: <one line>`` and exit: 2 for Hydra's errors, the error's own code for a BgganError.

    A Hydra or OmegaConf error is raised again instead when the user asked for tracebacks.
    """
    if os.environ.get(_TRACEBACK_WANTED) == "1" and not isinstance(error, BgganError):
        raise error
    if isinstance(error, BgganError):
        print(f"{prog}: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    print(f"{prog}: error: {hydra_error_line(error)}", file=sys.stderr)
    sys.exit(2)


def one_line_errors(prog: str) -> Callable:
    """Decorate a Hydra task function so that its config and input errors end it as one line.

    Inside the task, Hydra would print "Error executing job with overrides: ..." before re-raising; an
    exit from within the task avoids that extra line.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    def decorate(task: Callable) -> Callable:
        @functools.wraps(task)
        def run(cfg):
            try:
                return task(cfg)
            except (BgganError, HydraException, OmegaConfBaseException) as e:
                _fail(prog, e)

        return run

    return decorate


def run_hydra_app(prog: str, main: Callable[[], object]) -> None:
    """Run a ``@hydra.main`` function; a Hydra or OmegaConf error becomes ``prog: error: <one line>``, exit 2.

    Hydra prints its own errors over several lines and exits with 1; with ``HYDRA_FULL_ERROR=1`` it
    raises them instead, which is how they are caught here (errors inside the task function are caught
    by :func:`one_line_errors`). A user who sets ``HYDRA_FULL_ERROR=1`` themselves gets Hydra's full
    traceback, as Hydra documents.
    """
    if not config_dir().is_dir():
        print(f"{prog}: error: no config folder at {config_dir()}; set BGGAN_CONF=/path/to/bggan/conf", file=sys.stderr)
        sys.exit(2)
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from bggan.config_check import ConfigRejected

    saved = {k: os.environ.get(k) for k in ("HYDRA_FULL_ERROR", _TRACEBACK_WANTED)}
    # the user's wish, decided once: DDP workers inherit it, and our own HYDRA_FULL_ERROR=1 below
    os.environ.setdefault(_TRACEBACK_WANTED, "1" if saved["HYDRA_FULL_ERROR"] == "1" else "0")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except (BgganError, HydraException, OmegaConfBaseException) as e:
        _fail(prog, e)
    except ConfigRejected as e:  # from the config check Hydra runs before it makes the run folder
        _fail(prog, e.error)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
