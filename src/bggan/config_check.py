"""Config values checked against the classes they configure, before anything is built or run.

Every node of a Hydra config with a ``_target_`` configures that class: each of its keys must be a
parameter of the class's ``__init__``, and each value must fit the parameter's type annotation. A typo
(``data.pairs.nope``) or a bad value (``trainer.max_epochs=abc``) is one :class:`BgganError` line naming
the key and what is allowed, seconds after the command starts instead of after the data is rendered.
"""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
import os
import shutil
import types
import typing
from pathlib import Path, PurePath
from typing import Any, Literal, Union

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from bggan.errors import BgganError

_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Iterable)
#: What :func:`parameters` says of a target whose parameters cannot be read: it takes any keyword.
_ANY_KEYWORD = {"kwargs": inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)}


def check_targets(cfg: DictConfig, path: str = "", skip: tuple[str, ...] = ("hydra",)) -> None:
    """Check every ``_target_`` node under ``cfg`` (keys in ``skip`` are left out).

    Raises:
        BgganError: a target that cannot be imported, a key that is not one of its parameters, or a
            value that does not fit the parameter's annotation; the line names the full key.
    """
    if "_target_" in cfg:
        check_parameters(cfg, _import(cfg._target_, path), path, name=cfg._target_)
        return
    for key in cfg:
        if key in skip:
            continue
        child = cfg._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            check_targets(child, _join(path, key), skip=())


def check_parameters(node: DictConfig | dict, target: Any, path: str = "", name: str | None = None) -> None:
    """Check the keys and values of ``node`` against ``target``'s parameters (``_``-prefixed keys aside).

    Nested nodes with a ``_target_`` are checked against their own target instead. Values that are
    missing (``???``) are left for the target to report. ``name`` is how messages call the target
    (default: its module and name).
    """
    params, hints = parameters(target)
    name = name or f"{target.__module__}.{target.__qualname__}"
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in list(node.keys()):
        if str(key).startswith("_"):
            continue
        full = _join(path, key)
        if key not in params and not takes_any:
            named = [k for k, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            raise BgganError(f"{full}: {name} has no parameter '{key}' (its parameters: {', '.join(named)})")
        try:
            value = node[key]
        except MissingMandatoryValue:
            continue
        if isinstance(value, DictConfig) and "_target_" in value:
            check_targets(value, full)
            continue
        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True)
        hint = hints.get(key, Any)
        if not fits(value, hint):
            raise BgganError(f"{full}={_show(value)}: {name}'s {key} takes {describe(hint)}")


def parameters(target: Any) -> tuple[dict[str, inspect.Parameter], dict[str, Any]]:
    """``target``'s parameters and their resolved annotations (``{}`` where they cannot be resolved).

    A class whose ``__init__`` only forwards ``*args, **kwargs`` (a thin subclass) is read through the
    first base class that names its parameters; a target whose parameters cannot be read takes any keyword.
    """
    for owner in (target.__mro__ if isinstance(target, type) else (target,)):
        function = owner.__init__ if isinstance(target, type) else owner
        if isinstance(target, type) and "__init__" not in owner.__dict__:
            continue
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            break
        params = {k: p for k, p in signature.parameters.items() if k != "self"}
        if all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params.values()):
            continue
        try:
            hints = typing.get_type_hints(function)
        except Exception:  # noqa: BLE001 (an annotation naming something not importable here: judge nothing)
            hints = {}
        return params, hints
    return _ANY_KEYWORD, {}


def fits(value: Any, hint: Any) -> bool:
    """Whether a plain config value (``None``, bool, int, float, str, list, dict) fits ``hint``.

    Annotations this cannot judge (classes of objects, protocols, callables) accept anything: the
    check only refuses what is certainly wrong.
    """
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union or origin is types.UnionType:
        return any(fits(value, a) for a in args)
    if hint is None or hint is type(None):
        return value is None
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint in _SEQUENCES or origin in _SEQUENCES:
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(fits(v, a) for v, a in zip(value, args, strict=True))
        return all(fits(v, args[0]) for v in value) if args else True
    if hint is dict or origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    if isinstance(hint, type) and issubclass(hint, PurePath | os.PathLike):
        return isinstance(value, str)
    return True


def describe(hint: Any) -> str:
    """``int | None`` -> ``"int or null"``; ``tuple[int, int]`` -> ``"[int, int]"``; a Literal -> its values."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union or origin is types.UnionType:
        return " or ".join(dict.fromkeys(describe(a) for a in args))
    if hint is None or hint is type(None):
        return "null"
    if origin is Literal:
        return " or ".join(_show(a) for a in args)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return "[" + ", ".join(describe(a) for a in args) + "]"
    if hint in _SEQUENCES or origin in _SEQUENCES:
        return f"a list of {describe(args[0])}" if args else "a list"
    if isinstance(hint, type) and issubclass(hint, PurePath | os.PathLike):
        return "a path"
    return getattr(hint, "__name__", str(hint))


def _import(target: str, path: str) -> Any:
    from hydra.utils import get_object

    try:
        return get_object(target)
    except Exception as e:  # noqa: BLE001 (Hydra raises ImportError or its own error types)
        raise BgganError(f"{_join(path, '_target_')}: cannot import {target} ({type(e).__name__})") from None


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


class ConfigRejected(BaseException):
    """A config error from :class:`ConfigCheck`, carried past Hydra (which turns a callback's ``Exception``
    into a warning) to :func:`bggan.cli.hydra_app.run_hydra_app`, which prints its one line."""

    def __init__(self, error: BgganError) -> None:
        super().__init__(str(error))
        self.error = error


#: The folders Hydra is about to make for this process's run folder, topmost first (set by :class:`ConfigCheck`).
_made_by_hydra: list[Path] = []
#: What Hydra writes in a run folder before the task starts.
_HYDRA_FILES = (".hydra",)


def _missing_folders(path: Path) -> list[Path]:
    missing = []
    while not path.exists() and path.parent != path:
        missing.append(path)
        path = path.parent
    return missing[::-1]


def discard_new_run_folder(run_dir: str | os.PathLike) -> bool:
    """Remove the run folder Hydra made for a run that failed before it wrote anything of its own (a bad input found
    by the task itself), with the folders made above it; a folder that existed before, or holds anything besides
    Hydra's ``.hydra/`` and ``*.log`` files, is kept. Returns whether it was removed."""
    run_dir = Path(run_dir).absolute()
    if not _made_by_hydra or _made_by_hydra[-1] != run_dir or not run_dir.is_dir():
        return False
    if any(p.name not in _HYDRA_FILES and not (p.is_file() and p.suffix == ".log") for p in run_dir.iterdir()):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    for folder in reversed(_made_by_hydra[:-1]):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty: another run may have put its folder there meanwhile
    _made_by_hydra.clear()
    return not run_dir.exists()


def check_weight_file(key: str, value: Any, kind: str) -> None:
    """The file a config key names, read as ``kind`` (see :class:`ConfigCheck`'s ``files``); ``None``, ``last``
    (for ``resume``) and ``scratch`` (for ``generator``) name no file.

    Raises:
        BgganError: ``key=value: why``, in one line.
    """
    from bggan.models.weights import check_resumable, load_generator

    if kind not in ("resume", "generator"):
        raise BgganError(f"hydra.callbacks: ConfigCheck's files take resume or generator, not {kind!r} (for {key})")
    if value is None or value == {"resume": "last", "generator": "scratch"}[kind]:
        return
    try:
        check_resumable(value) if kind == "resume" else load_generator(value)
    except BgganError as e:
        raise BgganError(f"{key}={value}: {e}") from None


class ConfigCheck:
    """A Hydra callback that runs the check before Hydra makes the run folder (``hydra.callbacks`` in a
    primary config), so a bad key or value leaves nothing behind; the run folder itself is checked first
    (:func:`bggan.files.check_output_folder`).

    Args:
        target: check the whole config (``hydra`` aside) against this class's parameters, e.g.
            ``bggan.export.ExportConfig``; ``None`` checks every ``_target_`` node (:func:`check_targets`).
        name: how messages call ``target``.
        files: config keys that name a weight file, each with what it must be: ``resume`` (a checkpoint to resume
            from, :func:`bggan.models.weights.check_resumable`; ``last``, this run folder's, is left to the run) or
            ``generator`` (any generator file, loaded once: :func:`bggan.models.weights.load_generator`;
            ``scratch`` is no file). Checked before the run folder is made, so before any data is built.

    Only single runs are checked here; in a multirun (``-m``) every job checks its own config.
    """

    def __init__(self, target: str | None = None, name: str | None = None,
                 files: dict[str, Literal["resume", "generator"]] | None = None) -> None:
        self.target, self.name, self.files = target, name, dict(files or {})

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from bggan.files import check_output_folder

        try:
            try:  # the run folder may name Hydra's runtime (its choices), which Hydra sets after this hook, as here
                from hydra.core.hydra_config import HydraConfig

                HydraConfig.instance().set_config(config)
                run_dir = OmegaConf.select(config, "hydra.run.dir", default=None)  # ${now:} is cached: Hydra's too
            except Exception:  # noqa: BLE001 (a config without Hydra's node: nothing to check here, Hydra will say)
                run_dir = None
            _made_by_hydra.clear()
            if run_dir is not None:  # Hydra makes it next: a traceback under a file, or where nothing can be written
                check_output_folder(run_dir, "hydra.run.dir")
                _made_by_hydra.extend(_missing_folders(Path(run_dir).absolute()))
            for key, kind in self.files.items():  # first: quick, and the likeliest slip
                check_weight_file(key, OmegaConf.select(config, key, default=None), kind)
            if self.target is None:
                check_targets(config)
            else:
                task = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
                check_parameters(task, _import(self.target, "hydra.callbacks"), name=self.name or self.target)
        except BgganError as e:
            raise ConfigRejected(e) from None

    def __getattr__(self, name: str):
        if name.startswith("on_"):  # Hydra calls every hook of its Callback interface
            return lambda *args, **kwargs: None
        raise AttributeError(name)
