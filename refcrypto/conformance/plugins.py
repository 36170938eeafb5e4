"""Backends from outside refcrypto: plug-ins loaded by ``refcrypto check -b SPEC``.

A plug-in is a :class:`~.backend.WireBackend` or a :class:`~.backend.PrimitiveBackend`
(docs/backends.md) that declares the interface version it implements as ``API_VERSION``
(an attribute of the object or its class, or of its module), equal to
:data:`.backend.API_VERSION`. ``SPEC`` is one of:

``package.module:attribute``    imported with :func:`importlib.import_module`;
``path/to/file.py:attribute``   loaded from that file (a path holds ``/`` or ends in ``.py``);
``exec:COMMAND ARGS...``        a subprocess harness (:mod:`.execbackend`, docs/exec-protocol.md);
``NAME``                        an installed plug-in: entry point ``NAME`` of the group
                                ``refcrypto.backends`` (its value is ``module:attribute``).

The attribute may be the backend object itself, a class (instantiated without arguments) or
a function returning the backend. The plug-in's ``name`` is its column in every report; it
must be a short word not taken by a built-in backend or by another plug-in of this run.
Loaded plug-ins are registered here, and the engine looks names up here first
(:func:`.engine.wire_backend`), so a plug-in runs exactly as a built-in backend does.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .backend import API_VERSION, PrimitiveBackend, PrimitiveWire, WireBackend

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedBackend",
    "PluginError",
    "entry_point_names",
    "from_object",
    "load_backend",
    "registered",
    "unregister",
]

#: The entry-point group installed packages register backends in.
ENTRY_POINT_GROUP = "refcrypto.backends"
#: What a plug-in's ``name`` may look like (it becomes a report column and a JUnit suite).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,31}")
_WIRE_METHODS = ("available", "describe", "unsupported", "tcp_encoder", "tcp_decoder",
                 "udp_encrypt", "udp_decrypt")
_PRIMITIVE_METHODS = ("available", "describe", "unsupported", "new_stream", "new_aead")
_FORMS = ("module:attribute, path/to/file.py:attribute, exec:COMMAND, or the name of an "
          f"installed plug-in (entry-point group {ENTRY_POINT_GROUP})")


class PluginError(ValueError):
    """A plug-in cannot be loaded: not found, not a backend, the wrong API version, or a
    name that is taken. The message says which, and what to change."""


@dataclass(frozen=True)
class LoadedBackend:
    """A plug-in as the engine runs it: its wire side, its primitives if it has them, and
    where it came from (the ``-b`` text)."""

    name: str
    wire: WireBackend
    primitives: PrimitiveBackend | None
    origin: str


#: Plug-ins loaded in this process, by name (one entry per ``-b``; never grows by itself).
_REGISTRY: dict[str, LoadedBackend] = {}


def registered(name: str) -> LoadedBackend | None:
    """The plug-in loaded under ``name``, if any."""
    return _REGISTRY.get(name)


def unregister(name: str) -> None:
    """Forget the plug-in called ``name`` (tests load several in one process)."""
    _REGISTRY.pop(name, None)


def entry_point_names() -> list[str]:
    """Names of the plug-ins installed packages register (entry-point group
    ``refcrypto.backends``)."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})


def _builtin_names() -> tuple[str, ...]:
    from .engine import BACKENDS

    return BACKENDS


def load_backend(spec: str) -> LoadedBackend:
    """Load and register the plug-in ``spec`` names (see the module docstring); the same
    spec twice gives the registered one. :class:`PluginError` says what went wrong."""
    for loaded in _REGISTRY.values():
        if loaded.origin == spec:
            return loaded
    if spec.startswith("exec:"):
        from .execbackend import ExecBackend

        backend = ExecBackend.from_spec(spec)
        return _register(from_object(backend, spec, module=None), spec)
    target, colon, attribute = spec.rpartition(":")
    if not colon:
        points = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
                  if ep.name == spec]
        if points:
            return _register(_from_entry_point(points[0]), spec)
        if spec.endswith(".py") or "/" in spec:
            raise PluginError(f"-b {spec}: say which attribute of the file is the backend, as "
                              f"{spec}:Backend")
        installed = entry_point_names()
        known = ", ".join(_builtin_names())
        extra = f"; installed plug-ins: {', '.join(installed)}" if installed else ""
        raise PluginError(f"unknown backend {spec}; known: {known}{extra}; or give {_FORMS}")
    if not target or not attribute:
        raise PluginError(f"-b {spec}: expected {_FORMS}")
    module = _load_file(target) if _is_path(target) else _import(target, spec)
    return _register(from_object(_attribute(module, attribute, spec), spec, module=module), spec)


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _import(name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise PluginError(f"-b {spec}: cannot import module {name!r}: {exc} (is it on "
                          "PYTHONPATH, or installed?)") from None


def _load_file(target: str) -> ModuleType:
    path = Path(target).expanduser().resolve()
    if not path.is_file():
        raise PluginError(f"-b {target}: no such file {path}")
    # A name of its own per file, so two plug-in files called backend.py do not collide.
    name = f"refcrypto_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', str(path))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"-b {target}: {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"-b {target}: loading {path} failed: {type(exc).__name__}: "
                          f"{exc}") from exc
    return module


def _attribute(module: ModuleType, dotted: str, spec: str) -> object:
    value: object = module
    for part in dotted.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise PluginError(f"-b {spec}: {module.__name__} has no attribute {dotted!r}"
                              ) from None
    return value


def _from_entry_point(point: importlib.metadata.EntryPoint) -> LoadedBackend:
    origin = f"{point.name} (entry point {point.value})"
    try:
        value = point.load()
    except Exception as exc:
        raise PluginError(f"-b {point.name}: the installed plug-in's entry point {point.value} "
                          f"cannot be loaded: {type(exc).__name__}: {exc}") from exc
    module = sys.modules.get(point.module)
    return from_object(value, origin, module=module)


def _declared_version(obj: object, module: ModuleType | None) -> object:
    for holder in (obj, module):
        if holder is not None and hasattr(holder, "API_VERSION"):
            return holder.API_VERSION
    return None


def from_object(value: object, origin: str, *, module: ModuleType | None) -> LoadedBackend:
    """Check that ``value`` (a backend, its class, or a function making it) is a backend of
    this API version, and describe it as the engine runs it."""
    obj = value
    if inspect.isclass(obj) or (callable(obj) and not _looks_like_backend(obj)):
        try:
            obj = obj()
        except Exception as exc:
            raise PluginError(f"-b {origin}: making the backend failed: {type(exc).__name__}: "
                              f"{exc}") from exc
    if module is None:
        module = sys.modules.get(type(obj).__module__)
    version = _declared_version(obj, module)
    if version is None:
        raise PluginError(f"-b {origin}: the plug-in declares no API_VERSION; add "
                          f"API_VERSION = {API_VERSION} to its class or module "
                          "(docs/backends.md)")
    if type(version) is not int:
        raise PluginError(f"-b {origin}: API_VERSION must be an integer, got {version!r}")
    if version != API_VERSION:
        hint = ("upgrade refcrypto" if version > API_VERSION else
                "update the plug-in to the interface in docs/backends.md")
        raise PluginError(f"-b {origin}: the plug-in implements backend API {version}, this "
                          f"refcrypto implements API {API_VERSION}; {hint}")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PluginError(f"-b {origin}: the backend's name must be 1 to 32 letters, digits, "
                          f"'.', '_', '+' or '-' (a report column), got {name!r}")
    if _has_all(obj, _PRIMITIVE_METHODS):
        primitives: PrimitiveBackend = obj  # type: ignore[assignment]
        return LoadedBackend(name, PrimitiveWire(primitives), primitives, origin)
    if _has_all(obj, _WIRE_METHODS):
        wire: WireBackend = obj  # type: ignore[assignment]
        return LoadedBackend(name, wire, None, origin)
    missing_wire = [m for m in _WIRE_METHODS if not callable(getattr(obj, m, None))]
    missing_prim = [m for m in _PRIMITIVE_METHODS if not callable(getattr(obj, m, None))]
    raise PluginError(f"-b {origin}: {type(obj).__name__} is neither a wire backend (missing "
                      f"{', '.join(missing_wire)}) nor a primitive backend (missing "
                      f"{', '.join(missing_prim)}); see docs/backends.md")


def _has_all(obj: object, names: tuple[str, ...]) -> bool:
    return all(callable(getattr(obj, n, None)) for n in names)


def _looks_like_backend(obj: object) -> bool:
    return _has_all(obj, _WIRE_METHODS) or _has_all(obj, _PRIMITIVE_METHODS)


def _register(loaded: LoadedBackend, spec: str) -> LoadedBackend:
    if loaded.name in _builtin_names():
        raise PluginError(f"-b {spec}: the plug-in's name {loaded.name!r} is a built-in "
                          "backend's; give it another name")
    other = _REGISTRY.get(loaded.name)
    if other is not None and other.origin != loaded.origin:
        raise PluginError(f"-b {spec}: the name {loaded.name!r} is already taken by -b "
                          f"{other.origin}")
    _REGISTRY[loaded.name] = loaded
    return loaded
