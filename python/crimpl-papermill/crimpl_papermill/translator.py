"""papermill parameters as Rust bindings and `%crimpl env` lines.

papermill hands a translator the parameters (JSON/YAML values: None, bool,
int, float, str, list, dict) and puts the code it returns in a cell tagged
``injected-parameters`` after the notebook's ``parameters`` cell. For this
kernel each parameter becomes

- a typed Rust binding: ``let n: i64 = 5;`` (``f64``, ``bool``,
  ``String``, ``Vec<...>`` for lists), which Rust cells see, and
- a ``%crimpl env n=5`` line, so that ``$n`` in a magic line sees it too
  (a list's value is its items as shell words: ``--files $inputs``).

Values with no Rust form (None, dicts, empty lists, mixed lists, integers
beyond i64) are refused with a :class:`ParameterError` naming the
parameter. The Rust lines come first and the magic lines after them, so
the kernel runs the cell as one Rust evaluation followed by the magics.
"""
from __future__ import annotations

import math
import re
import shlex

from papermill.models import Parameter
from papermill.translators import Translator

KERNEL_NAME = "crimpl"
"""The kernel's name in ``jupyter kernelspec list`` (its notebooks' metadata)."""

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Rust's keywords, strict and reserved: a parameter so named is bound as r#name.
RUST_KEYWORDS = frozenset(
    "as async await break const continue dyn else enum extern false fn for gen if impl in let loop "
    "match mod move mut pub ref return static struct trait true try type unsafe use where while "
    "abstract become box do final macro override priv typeof unsized virtual yield".split()
)
# Keywords that cannot be raw identifiers either.
NOT_RAW = frozenset({"self", "Self", "super", "crate", "_"})

# Characters a one-line magic cannot carry.
LINE_BREAKS = ("\n", "\r", "\0")


class ParameterError(ValueError):
    """A parameter that cannot be given to a Rust notebook, and why."""


def _type_of(name: str, value) -> object:
    """The Rust type of `value`: a type name, ("Vec", item type), or None for `[]`'s unknown item."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ParameterError(f"parameter {name!r}: {value} does not fit in a Rust i64")
        return "i64"
    if isinstance(value, float):
        return "f64"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        item = None
        for element in value:
            item = _unify(name, item, _type_of(name, element))
        return ("Vec", item)
    if value is None:
        raise ParameterError(
            f"parameter {name!r} is None, which has no Rust form: leave it out to keep the "
            "notebook's default, or give it a value"
        )
    if isinstance(value, dict):
        raise ParameterError(
            f"parameter {name!r} is a mapping, which has no Rust form here: pass its entries as "
            "separate parameters"
        )
    raise ParameterError(
        f"parameter {name!r} is a {type(value).__name__}, which has no Rust form: pass it as a string"
    )


def _unify(name: str, a, b):
    """The one type that list items of types `a` and `b` can share (integers widen to f64)."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    if {a, b} == {"i64", "f64"}:
        return "f64"
    if isinstance(a, tuple) and isinstance(b, tuple):
        return ("Vec", _unify(name, a[1], b[1]))
    raise ParameterError(
        f"parameter {name!r} mixes {_spell(a)} and {_spell(b)} items: a Rust Vec holds one type"
    )


def _spell(rust_type) -> str:
    """`rust_type` as Rust writes it (`_` for an unknown item type)."""
    if rust_type is None:
        return "_"
    if isinstance(rust_type, tuple):
        return f"Vec<{_spell(rust_type[1])}>"
    return rust_type


def _complete(rust_type) -> bool:
    """Whether every item type in `rust_type` is known."""
    if isinstance(rust_type, tuple):
        return _complete(rust_type[1])
    return rust_type is not None


def rust_string(text: str) -> str:
    """`text` as a Rust string literal, on one line."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ParameterError(f"{text!r} is not valid Unicode text: {error.reason}") from None
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _literal(value, rust_type) -> str:
    """`value` as a Rust expression of `rust_type`."""
    if rust_type == "bool":
        return "true" if value else "false"
    if rust_type == "i64":
        return str(value)
    if rust_type == "f64":
        value = float(value)
        if math.isnan(value):
            return "f64::NAN"
        if math.isinf(value):
            return "f64::INFINITY" if value > 0 else "f64::NEG_INFINITY"
        return repr(value)
    if rust_type == "String":
        return f"{rust_string(value)}.to_string()"
    items = ", ".join(_literal(element, rust_type[1]) for element in value)
    return f"vec![{items}]"


def binding(name: str, value) -> str:
    """The Rust statement binding parameter `name` to `value`."""
    rust_type = _type_of(name, value)
    if not _complete(rust_type):
        raise ParameterError(
            f"parameter {name!r} is {value!r}: Rust cannot tell the item type of an empty list; "
            "give at least one item"
        )
    identifier = f"r#{name}" if name in RUST_KEYWORDS else name
    return f"let {identifier}: {_spell(rust_type)} = {_literal(value, rust_type)};"


def env_text(value) -> str:
    """What `$name` expands to: the value as text; a list's items as shell words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return shlex.join(env_text(element) for element in value)
    return str(value)


def env_line(name: str, value) -> str | None:
    """The `%crimpl env` line setting `name`, or None when its text holds a line break."""
    text = env_text(value)
    if any(mark in text for mark in LINE_BREAKS):
        return None
    # The kernel expands `$` in magic lines before splitting them into words: `$$` is a `$`.
    return "%crimpl env " + shlex.quote(f"{name}={text}").replace("$", "$$")


def check_name(name: str) -> None:
    """Refuse names that are not both a Rust identifier and a `$NAME`."""
    if not NAME.fullmatch(name) or name in NOT_RAW:
        raise ParameterError(
            f"parameter name {name!r} cannot be a Rust variable and a $NAME: use letters, digits "
            "and _, not starting with a digit"
        )


class RustTranslator(Translator):
    """Parameters as typed Rust bindings, for any Rust kernel (language ``rust``)."""

    @classmethod
    def comment(cls, cmt_str):
        return f"// {cmt_str}".strip()

    @classmethod
    def lines(cls, parameters) -> tuple[list[str], list[str]]:
        """The Rust lines and the magic lines for `parameters`."""
        rust = []
        for name, value in parameters.items():
            check_name(name)
            rust.append(binding(name, value))
        return rust, []

    @classmethod
    def codify(cls, parameters, comment="Parameters"):
        rust, magics = cls.lines(parameters)
        return "\n".join([cls.comment(comment), *rust, *magics]) + "\n"

    @classmethod
    def inspect(cls, parameters_cell):
        """The parameters a ``parameters`` cell defines: `let` lines (a trailing `//`
        comment is their help), then names only set by `%crimpl env` lines."""
        found = {}
        for line in parameters_cell.source.splitlines():
            line = line.strip()
            let = LET.fullmatch(line)
            if let:
                found.setdefault(let["name"], Parameter(let["name"], let["type"], let["value"], let["help"] or ""))
                continue
            words = _magic_words(line)
            for word in words[1:] if words[:1] == ["env"] else []:
                name, equals, value = word.partition("=")
                if equals and NAME.fullmatch(name):
                    found.setdefault(name, Parameter(name, "None", value, ""))
        return list(found.values())


LET = re.compile(
    r"let\s+(?:r#)?(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<type>[^=]+?)\s*=\s*(?P<value>.*?);"
    r"\s*(?://\s*(?P<help>.*))?"
)


def _magic_words(line: str) -> list[str]:
    """The words after `%crimpl` on a line magic, or [] (unparsable lines are skipped)."""
    if not line.startswith("%crimpl "):
        return []
    try:
        return shlex.split(line[len("%crimpl "):])
    except ValueError:
        return []


class CrimplTranslator(RustTranslator):
    """Parameters as Rust bindings and `%crimpl env` lines, for the crimpl kernel."""

    @classmethod
    def lines(cls, parameters):
        rust, magics = super().lines(parameters)
        for name, value in parameters.items():
            line = env_line(name, value)
            if line is None:
                rust.append(f"// ${name} is unset: its text holds a line break, which a magic line cannot carry")
                magics.append(f"%crimpl env --unset {name}")
            else:
                magics.append(line)
        return rust, magics
