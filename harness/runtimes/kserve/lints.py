"""Mistakes of a ModelServer (runtime: kserve) scenario, caught before anything is deployed.

The user's kserve.Model file is read with `ast`, never imported: linting must not run user code.
What the rules mirror is how kserve_harness_predictor.py loads that file: exactly one kserve.Model
subclass defined in it, built as Cls(model.name, ...), load()ed, then required to be ready.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable, Iterator

from harness.errors import LintError
from harness.rules import RuleSet, where_in
from harness.spec import BUILTIN_HANDLERS, ScenarioSpec

RULES = RuleSet()
rule = RULES.rule
# Several workers on a GPU can be meant (a GPU with room for the copies): it informs, not blocks.
WARNINGS: frozenset[str] = frozenset({"kserve-workers-gpu"})

_KSERVE_MODEL = {"kserve.Model", "kserve.model.Model"}  # kserve re-exports kserve.model.Model


def _handler_tree(spec: ScenarioSpec) -> tuple[Path, ast.Module | Exception] | None:
    """The user's handler file and its syntax tree (or why it does not parse); None for `tensor`, a
    TorchServe handler name, or a file that is missing or no .py (missing_files says so)."""
    if spec.runtime != "kserve" or spec.model.handler in BUILTIN_HANDLERS:
        return None
    path = Path(spec.model.handler)
    if not path.is_file() or path.suffix != ".py":
        return None
    try:
        source = path.read_bytes()
    except OSError:
        return None  # unreadable here: the upload reports it
    try:
        return path, ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # the last two: absurd nesting
        return path, exc


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":`: it does not run when the predictor imports the file."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and _dotted(test.left) == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


def _import_time(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run when the file is imported: into if/try/with blocks, not into functions,
    classes or the __main__ block."""
    for node in body:
        if _is_main_guard(node):
            continue
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for handler in getattr(node, "handlers", []):
            yield from _import_time(handler.body)
        for field in ("body", "orelse", "finalbody"):
            yield from _import_time(getattr(node, field, []))


def _model_classes(tree: ast.Module) -> list[ast.ClassDef]:
    """Classes deriving from kserve.Model under any import spelling (Model, M, kserve.Model,
    ks.Model), or from such a class of this file: the predictor counts each of them."""
    stmts = list(_import_time(tree.body))
    bound: dict[str, str] = {}  # name in this file -> what it names (import kserve as ks: ks -> kserve)
    for node in stmts:
        if isinstance(node, ast.Import):
            for a in node.names:
                head = a.name.partition(".")[0]
                bound[a.asname or head] = a.name if a.asname else head
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            bound.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})

    def resolved(base: ast.expr) -> str:
        head, dot, rest = _dotted(base).partition(".")
        return bound.get(head, head) + dot + rest

    found: list[ast.ClassDef] = []
    for node in stmts:
        if isinstance(node, ast.ClassDef) and any(
                resolved(b) in _KSERVE_MODEL or _dotted(b) in {c.name for c in found} for b in node.bases):
            found.append(node)
    return found


def _one_model_class(spec: ScenarioSpec) -> tuple[Path, ast.Module, ast.ClassDef] | None:
    """The file, its tree and its one kserve.Model class; None where model_class already reports."""
    found = _handler_tree(spec)
    if found is None or not isinstance(found[1], ast.Module):
        return None
    classes = _model_classes(found[1])
    return (found[0], found[1], classes[0]) if len(classes) == 1 else None


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    return next((n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name),
                None)


def _is_super_call(node: ast.AST, method: str) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method
            and isinstance(node.func.value, ast.Call) and _dotted(node.func.value.func) == "super")


def _literal_name(call: ast.Call) -> str | None:
    """The name a call passes as a string literal: first argument or name=; None when passed through."""
    arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "name"), None)
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


@rule
def model_class(spec: ScenarioSpec) -> Iterator[LintError]:
    found = _handler_tree(spec)
    if found is None:
        return
    path, tree = found
    if not isinstance(tree, ast.Module):
        line = getattr(tree, "lineno", None)
        problem = getattr(tree, "msg", None) or "nested too deeply"
        yield LintError("kserve-handler-syntax",
                        f"model.handler is not valid Python: {problem}" + (f" (line {line})" if line else ""),
                        where=f"{path}:{line}" if line else where_in(spec, "model.handler"),
                        hint="fix the Python syntax: the predictor imports this file when it starts")
        return
    classes = _model_classes(tree)
    if len(classes) != 1:
        names = ", ".join(c.name for c in classes) or "none"
        yield LintError("kserve-no-model-class",
                        f"model.handler must define exactly one kserve.Model subclass (found: {names}): {path}",
                        where=where_in(spec, "model.handler"),
                        hint="define one `class MyModel(kserve.Model)` with load() and predict()" if not classes
                        else "keep one kserve.Model subclass in it; move the others into a module in extra_files")


@rule
def model_name_matches(spec: ScenarioSpec) -> Iterator[LintError]:
    found = _one_model_class(spec)
    if found is None:
        return
    path, tree, cls = found
    init = _method(cls, "__init__")
    for node in ast.walk(init) if init else ():
        name = _literal_name(node) if _is_super_call(node, "__init__") else None
        if name is not None and name != spec.model.name:
            # The predictor checks the built model's name and stops: the run would fail at deploy.
            yield LintError("kserve-model-name-mismatch",
                            f"{cls.name} registers itself as {name!r} but model.name is {spec.model.name!r}: "
                            f"requests to /v1/models/{spec.model.name} would answer 404",
                            where=f"{path}:{node.lineno}",
                            hint="pass the name the class is given: super().__init__(name)")
    for guard in (n for n in tree.body if _is_main_guard(n)):
        for node in ast.walk(guard):
            name = _literal_name(node) if isinstance(node, ast.Call) and _dotted(node.func) == cls.name else None
            if name is not None and name != spec.model.name:
                yield LintError("kserve-model-name-mismatch",
                                f"the file's __main__ block builds {cls.name}({name!r}) but model.name is "
                                f"{spec.model.name!r}: served that way, requests to /v1/models/{spec.model.name} "
                                "would answer 404", where=f"{path}:{node.lineno}",
                                hint=f"build it with the --model_name argument (or {spec.model.name!r})")


@rule
def load_sets_ready(spec: ScenarioSpec) -> Iterator[LintError]:
    found = _one_model_class(spec)
    load = _method(found[2], "load") if found else None
    if load is None:
        return  # kserve.Model.load sets self.ready itself
    path, _, cls = found
    sets_ready = any(isinstance(n, ast.Attribute) and n.attr == "ready" and isinstance(n.ctx, ast.Store)
                     and _dotted(n.value) == "self" for n in ast.walk(cls))  # in load or a helper it calls
    if not sets_ready and not any(_is_super_call(n, "load") for n in ast.walk(load)):
        yield LintError("kserve-load-never-ready",
                        f"{cls.name}.load() never sets self.ready: KServe would report the model not ready for ever",
                        where=f"{path}:{load.lineno}",
                        hint="end load() with `self.ready = True` (or return super().load())")


# field -> (is it set, what to do instead); each a TorchServe notion the ModelServer has no use for.
_TORCHSERVE_ONLY: dict[str, tuple[Callable[[ScenarioSpec], bool], str]] = {
    "model.model_file": (lambda s: s.model.model_file is not None,
                         "drop it: build the eager model in your kserve.Model's load() (its .py in extra_files)"),
    "model.requirements_file": (lambda s: s.model.requirements_file is not None,
                                "drop it: install the packages into the ModelServer image (kubernetes.image)"),
    "model.handler": (lambda s: s.model.handler in BUILTIN_HANDLERS - {"tensor"},
                      "use handler: tensor (any TorchScript model) or a .py file defining a kserve.Model"),
    "serving.envelope": (lambda s: s.serving.envelope is not None,
                         "drop it: the ModelServer parses the V1/V2 protocol itself"),
    "serving.path": (lambda s: s.serving.path == "direct",
                     "drop it: there is no TorchServe behind the ModelServer to reach directly"),
    "kubernetes.runtime": (lambda s: s.kubernetes.runtime is not None,
                           "drop it: a custom predictor names its image (kubernetes.image or kserve.image)"),
    "kubernetes.runtime_version": (lambda s: s.kubernetes.runtime_version is not None,
                                   "drop it: a custom predictor names its image (kubernetes.image or kserve.image)"),
}


@rule
def torchserve_only_fields(spec: ScenarioSpec) -> Iterator[LintError]:
    if spec.runtime != "kserve":
        return
    for key, (used, hint) in _TORCHSERVE_ONLY.items():
        if used(spec):
            yield LintError("torchserve-only-field",
                            f"{key} is a TorchServe setting and this scenario's runtime is kserve: the ModelServer "
                            "has no use for it", where=where_in(spec, key), hint=hint)


@rule
def workers_with_gpus(spec: ScenarioSpec) -> Iterator[LintError]:
    if spec.runtime == "kserve" and spec.kserve.workers > 1 and spec.kubernetes.gpu_count > 0:
        yield LintError("kserve-workers-gpu",
                        f"kserve.workers is {spec.kserve.workers} with GPUs: each uvicorn worker process loads its "
                        "own copy of the model onto the GPU", where=where_in(spec, "kserve.workers"),
                        hint="keep workers: 1 on a GPU (raise max_asyncio_workers for concurrency), or make sure "
                             "the GPU holds that many copies")
