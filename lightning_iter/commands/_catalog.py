"""The depth strategies' names, parameters (with defaults) and one line of doc, read from their source (`ast`).

`lightning_iter strategies` must answer in well under a second; importing a strategy imports torch (seconds),
so the built-ins (`@register_strategy("name")` in `depth/*.py`) and entry-point plugins are described from
their source files without running them. A plugin whose source cannot be read is imported and inspected.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

DEPTH_DIR = Path(__file__).resolve().parents[1] / "depth"


@dataclass(frozen=True)
class Parameter:
    """One constructor parameter: its name, annotation and default as written in the source (None: required)."""

    name: str
    annotation: str | None
    default: str | None


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    target: str  # module:Class
    doc: str
    parameters: tuple[Parameter, ...]


def _classes(path: Path) -> dict[str, ast.ClassDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _ast_parameters(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> tuple[Parameter, ...] | None:
    """`cls.__init__`'s parameters, else its first base's that has one; None when a base is not in `classes`."""
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            args = node.args
            positional = [*args.posonlyargs, *args.args][1:]  # without self
            defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
            pairs = [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]
            return tuple(
                Parameter(
                    a.arg,
                    None if a.annotation is None else ast.unparse(a.annotation),
                    None if d is None else ast.unparse(d),
                )
                for a, d in pairs
            )
    for base in cls.bases:
        name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
        if name in ("ABC", "object"):
            continue
        if name not in classes:
            return None
        return _ast_parameters(classes[name], classes)
    return ()


def class_parameters(path: Path, name: str) -> tuple[Parameter, ...]:
    """The constructor parameters of class `name` defined in source file `path` (not imported)."""
    classes = _classes(path)
    return _ast_parameters(classes[name], classes) or ()


def class_doc(path: Path, name: str) -> str:
    """The docstring of class `name` defined in source file `path` (not imported)."""
    return ast.get_docstring(_classes(path)[name]) or ""


def _registered_name(cls: ast.ClassDef) -> str | None:
    for decorator in cls.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and getattr(decorator.func, "id", getattr(decorator.func, "attr", None)) == "register_strategy"
            and decorator.args
            and isinstance(decorator.args[0], ast.Constant)
        ):
            return str(decorator.args[0].value)
    return None


def _doc(cls: ast.ClassDef) -> str:
    return (ast.get_docstring(cls) or "").strip().split("\n")[0]


def _builtin_classes() -> dict[str, tuple[str, ast.ClassDef]]:
    """Every class of `depth/*.py`, by name, with its module."""
    found: dict[str, tuple[str, ast.ClassDef]] = {}
    for path in sorted(DEPTH_DIR.glob("*.py")):
        for name, node in _classes(path).items():
            found.setdefault(name, (f"lightning_iter.depth.{path.stem}", node))
    return found


def entry_point_group() -> str:
    """`registry.ENTRY_POINT_GROUP`, read from registry.py's source (importing it imports torch)."""
    tree = ast.parse((DEPTH_DIR / "registry.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ENTRY_POINT_GROUP" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise RuntimeError("depth/registry.py defines no ENTRY_POINT_GROUP")


def _inspected(name: str, cls: type) -> StrategyInfo:
    """A plugin's description from the imported class (`inspect`), when its source cannot be read."""
    parameters = []
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = None if p.annotation is p.empty else str(p.annotation)
        default = None if p.default is p.empty else repr(p.default)
        parameters.append(Parameter(p.name, annotation, default))
    doc = (inspect.getdoc(cls) or "").split("\n")[0]
    return StrategyInfo(name, f"{cls.__module__}:{cls.__qualname__}", doc, tuple(parameters))


def _plugin(name: str, value: str, builtins: dict[str, tuple[str, ast.ClassDef]]) -> StrategyInfo:
    module, _, qualname = value.partition(":")
    try:
        spec = importlib.util.find_spec(module)
        origin = None if spec is None else spec.origin
        classes = _classes(Path(origin)) if origin and origin.endswith(".py") else {}
    except (ImportError, OSError, SyntaxError, ValueError):
        classes = {}
    if qualname in classes:
        known = {**{k: node for k, (_, node) in builtins.items()}, **classes}
        parameters = _ast_parameters(classes[qualname], known)
        if parameters is not None:
            return StrategyInfo(name, value, _doc(classes[qualname]), parameters)
    entry = next(e for e in entry_points(group=entry_point_group()) if e.name == name)
    return _inspected(name, entry.load())


def catalog() -> list[StrategyInfo]:
    """Every registered strategy (built-in, then entry points not shadowing one), sorted by name."""
    builtins = _builtin_classes()
    classes = {k: node for k, (_, node) in builtins.items()}
    found: dict[str, StrategyInfo] = {}
    for cls_name, (module, node) in builtins.items():
        name = _registered_name(node)
        if name is not None:
            parameters = _ast_parameters(node, classes) or ()
            found[name] = StrategyInfo(name, f"{module}:{cls_name}", _doc(node), parameters)
    for entry in entry_points(group=entry_point_group()):
        if entry.name not in found:
            found[entry.name] = _plugin(entry.name, entry.value, builtins)
    return [found[name] for name in sorted(found)]


def format_parameter(p: Parameter) -> str:
    kind = f": {p.annotation}" if p.annotation else ""
    return f"{p.name}{kind}" + (" (required)" if p.default is None else f" = {p.default}")


def describe(infos: list[StrategyInfo]) -> str:
    """The listing `lightning_iter strategies` prints: per strategy its doc line, class and parameters."""
    lines: list[str] = []
    for info in infos:
        lines.append(f"{info.name}: {info.doc}")
        lines.append(f"    class: {info.target}")
        lines.append("    parameters:" + ("" if info.parameters else " (none)"))
        lines.extend(f"      {format_parameter(p)}" for p in info.parameters)
    lines.append("")
    lines.append(
        "Every strategy also takes `retrofit` (a stage: {start_step, block, extra}). In YAML: "
        "depth: {name: NAME, <parameter>: VALUE, ...}"
    )
    return "\n".join(lines)


def as_json(infos: list[StrategyInfo]) -> list[dict[str, Any]]:
    return [
        {
            "name": i.name,
            "class": i.target,
            "doc": i.doc,
            "parameters": [{"name": p.name, "type": p.annotation, "default": p.default} for p in i.parameters],
        }
        for i in infos
    ]
