"""The type stub _hb.pyi says what the compiled binding is.

The stub is written by hand next to _hb.pyx; nothing else ties them. This
reads the stub with ast and the binding with inspect (Cython 3 functions
carry their signatures), and compares names, parameters, their kinds and
defaults, and the module's public names. It runs against whatever
installation is imported (the wheel ships the stub beside the extension).
"""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import pytest

from mosaic_hb import _hb

STUB = Path(_hb.__file__).with_name("_hb.pyi")

KINDS = {"posonlyargs": inspect.Parameter.POSITIONAL_ONLY, "args": inspect.Parameter.POSITIONAL_OR_KEYWORD,
         "kwonlyargs": inspect.Parameter.KEYWORD_ONLY}


def stub_module() -> ast.Module:
    return ast.parse(STUB.read_text(), filename=str(STUB))


def stub_functions() -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in stub_module().body if isinstance(node, ast.FunctionDef)}


def stub_parameters(node: ast.FunctionDef) -> list[tuple[str, inspect._ParameterKind, object]]:
    """(name, kind, default) for each parameter, inspect.Parameter.empty when there is no default."""
    args = node.args
    positional = [(a, "posonlyargs") for a in args.posonlyargs] + [(a, "args") for a in args.args]
    defaults = [inspect.Parameter.empty] * (len(positional) - len(args.defaults)) + [
        ast.literal_eval(d) for d in args.defaults]
    params = [(a.arg, KINDS[kind], default) for (a, kind), default in zip(positional, defaults)]
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append((arg.arg, KINDS["kwonlyargs"],
                       inspect.Parameter.empty if default is None else ast.literal_eval(default)))
    assert args.vararg is None and args.kwarg is None, f"{node.name}: the stub takes *args/**kwargs"
    return params


def test_the_stub_names_every_public_name_of_the_binding_and_no_other():
    in_stub = set()
    for node in stub_module().body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            in_stub.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            in_stub.add(node.target.id)
    public = {name for name in in_stub if not name.startswith("_")}
    in_binding = {name for name in dir(_hb) if not name.startswith("_")
                  and getattr(getattr(_hb, name), "__module__", _hb.__name__) == _hb.__name__
                  and not inspect.ismodule(getattr(_hb, name))}
    assert public == in_binding


@pytest.mark.parametrize("name", sorted(stub_functions()))
def test_each_function_of_the_stub_has_the_bindings_parameters(name):
    actual = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(_hb, name)).parameters.values()]
    # With each default's type: 10 == 10.0 and 0 == False, but a stub that
    # says `timeout: float = 10` or `fsync: bool = 0` is not the binding.
    def typed(params):
        return [(name, kind, default, type(default)) for name, kind, default in params]

    assert typed(stub_parameters(stub_functions()[name])) == typed(actual)


def test_the_stubs_constants_have_their_annotated_types():
    for node in stub_module().body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and \
                isinstance(node.annotation, ast.Name) and node.annotation.id in ("int", "float"):
            value = getattr(_hb, node.target.id)
            assert type(value).__name__ == node.annotation.id, (node.target.id, value)


def test_the_stubs_exceptions_are_the_bindings():
    for node in stub_module().body:
        if isinstance(node, ast.ClassDef):
            bases = tuple(getattr(builtins, base.id) for base in node.bases)
            assert issubclass(getattr(_hb, node.name), bases), node.name
