"""The languages the index understands: extensions, tree-sitter grammars (per-language wheels), queries.

Each language has three queries over its grammar:

- ``definitions``: ``@def.KIND`` on a definition node with ``@name`` on its name (and an optional ``@scope``
  naming the type a method belongs to when it is defined outside it, as Go receivers and C++ ``A::f`` do);
  ``@def.impl`` marks a scope that qualifies names inside it but is not a symbol itself (Rust ``impl``).
- ``calls``: ``@call`` on the callee name of a call expression (name-based, so call edges are approximate).
- comments and string literals (from the grammar's node kinds): identifier-like tokens outside them are the
  occurrences behind ``find_references``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import tree_sitter as ts

__all__ = ["LANGUAGES", "Grammar", "LanguageSpec", "Queries", "grammar_for", "language_of"]


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """Static description of one language."""

    name: str
    extensions: tuple[str, ...]
    loader: Callable[[], object]
    definitions: str
    calls: str
    # Definition kinds that hold methods (a function defined directly inside one is a method).
    containers: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {"class", "struct", "interface", "trait", "impl", "enum", "record", "union", "object"}
        )
    )
    # Node types wrapping a definition whose leading comments document it (export, decorators, templates).
    wrappers: frozenset[str] = frozenset()


def _py() -> object:
    import tree_sitter_python

    return tree_sitter_python.language()


def _js() -> object:
    import tree_sitter_javascript

    return tree_sitter_javascript.language()


def _ts() -> object:
    import tree_sitter_typescript

    return tree_sitter_typescript.language_typescript()


def _tsx() -> object:
    import tree_sitter_typescript

    return tree_sitter_typescript.language_tsx()


def _go() -> object:
    import tree_sitter_go

    return tree_sitter_go.language()


def _rust() -> object:
    import tree_sitter_rust

    return tree_sitter_rust.language()


def _java() -> object:
    import tree_sitter_java

    return tree_sitter_java.language()


def _c() -> object:
    import tree_sitter_c

    return tree_sitter_c.language()


def _cpp() -> object:
    import tree_sitter_cpp

    return tree_sitter_cpp.language()


def _csharp() -> object:
    import tree_sitter_c_sharp

    return tree_sitter_c_sharp.language()


def _ruby() -> object:
    import tree_sitter_ruby

    return tree_sitter_ruby.language()


def _php() -> object:
    import tree_sitter_php

    return tree_sitter_php.language_php()


_PY_DEFS = """
(class_definition name: (identifier) @name) @def.class
(function_definition name: (identifier) @name) @def.function
(module (expression_statement (assignment left: (identifier) @name)) @def.variable)
(class_definition body: (block (expression_statement (assignment left: (identifier) @name)) @def.field))
"""
_PY_CALLS = """
(call function: (identifier) @call)
(call function: (attribute attribute: (identifier) @call))
"""

_JS_DEFS_COMMON = """
(function_declaration name: (identifier) @name) @def.function
(generator_function_declaration name: (identifier) @name) @def.function
(method_definition name: [(property_identifier) (private_property_identifier)] @name) @def.method
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)]) @def.function
(program (lexical_declaration (variable_declarator name: (identifier) @name) @def.constant))
(program (export_statement (lexical_declaration
  (variable_declarator name: (identifier) @name) @def.constant)))
"""
_JS_DEFS = (
    _JS_DEFS_COMMON
    + """
(class_declaration name: (identifier) @name) @def.class
(class name: (identifier) @name) @def.class
"""
)
_TS_DEFS = (
    _JS_DEFS_COMMON
    + """
(class_declaration name: (type_identifier) @name) @def.class
(abstract_class_declaration name: (type_identifier) @name) @def.class
(interface_declaration name: (type_identifier) @name) @def.interface
(type_alias_declaration name: (type_identifier) @name) @def.type
(enum_declaration name: (identifier) @name) @def.enum
(function_signature name: (identifier) @name) @def.function
(method_signature name: (property_identifier) @name) @def.method
(abstract_method_signature name: (property_identifier) @name) @def.method
(internal_module name: (identifier) @name) @def.namespace
(public_field_definition name: (property_identifier) @name) @def.field
"""
)
_JS_CALLS = """
(call_expression function: (identifier) @call)
(call_expression function: (member_expression property: (property_identifier) @call))
(new_expression constructor: (identifier) @call)
"""

_GO_DEFS = """
(function_declaration name: (identifier) @name) @def.function
(method_declaration receiver: (parameter_list (parameter_declaration type: [(type_identifier) @scope
  (pointer_type (type_identifier) @scope) (generic_type type: (type_identifier) @scope)
  (pointer_type (generic_type type: (type_identifier) @scope))])) name: (field_identifier) @name) @def.method
(type_spec name: (type_identifier) @name type: (struct_type)) @def.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @def.interface
(type_spec name: (type_identifier) @name) @def.type
(type_alias name: (type_identifier) @name) @def.type
(source_file (const_declaration (const_spec name: (identifier) @name) @def.constant))
(source_file (var_declaration (var_spec name: (identifier) @name) @def.variable))
(method_elem name: (field_identifier) @name) @def.method
"""
_GO_CALLS = """
(call_expression function: (identifier) @call)
(call_expression function: (selector_expression field: (field_identifier) @call))
"""

_RUST_DEFS = """
(function_item name: (identifier) @name) @def.function
(function_signature_item name: (identifier) @name) @def.function
(struct_item name: (type_identifier) @name) @def.struct
(enum_item name: (type_identifier) @name) @def.enum
(union_item name: (type_identifier) @name) @def.union
(trait_item name: (type_identifier) @name) @def.trait
(type_item name: (type_identifier) @name) @def.type
(const_item name: (identifier) @name) @def.constant
(static_item name: (identifier) @name) @def.variable
(mod_item name: (identifier) @name) @def.module
(macro_definition name: (identifier) @name) @def.macro
(impl_item type: [(type_identifier) @name (generic_type type: (type_identifier) @name)
  (scoped_type_identifier name: (type_identifier) @name)]) @def.impl
"""
_RUST_CALLS = """
(call_expression function: (identifier) @call)
(call_expression function: (field_expression field: (field_identifier) @call))
(call_expression function: (scoped_identifier name: (identifier) @call))
(macro_invocation macro: (identifier) @call)
"""

_JAVA_DEFS = """
(class_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(record_declaration name: (identifier) @name) @def.record
(annotation_type_declaration name: (identifier) @name) @def.interface
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.constructor
(field_declaration declarator: (variable_declarator name: (identifier) @name)) @def.field
(enum_constant name: (identifier) @name) @def.constant
"""
_JAVA_CALLS = """
(method_invocation name: (identifier) @call)
(object_creation_expression type: (type_identifier) @call)
"""

_C_DEFS_COMMON = """
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @def.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator
  declarator: (identifier) @name))) @def.function
(function_definition declarator: (pointer_declarator declarator: (pointer_declarator declarator:
  (function_declarator declarator: (identifier) @name)))) @def.function
(struct_specifier name: (type_identifier) @name body: (field_declaration_list)) @def.struct
(union_specifier name: (type_identifier) @name body: (field_declaration_list)) @def.union
(enum_specifier name: (type_identifier) @name body: (enumerator_list)) @def.enum
(type_definition declarator: (type_identifier) @name) @def.type
(preproc_def name: (identifier) @name) @def.macro
(preproc_function_def name: (identifier) @name) @def.macro
(enumerator name: (identifier) @name) @def.constant
"""
_C_DEFS = _C_DEFS_COMMON
_CPP_DEFS = (
    _C_DEFS_COMMON
    + """
(class_specifier name: (type_identifier) @name body: (field_declaration_list)) @def.class
(namespace_definition name: (namespace_identifier) @name) @def.namespace
(function_definition declarator: (function_declarator declarator: (field_identifier) @name)) @def.method
(function_definition declarator: (function_declarator declarator: (destructor_name) @name)) @def.method
(function_definition declarator: (function_declarator declarator: (operator_name) @name)) @def.method
(function_definition declarator: (function_declarator declarator: (qualified_identifier
  scope: (namespace_identifier) @scope
  name: [(identifier) (destructor_name) (operator_name)] @name))) @def.method
(function_definition declarator: (reference_declarator (function_declarator declarator: (qualified_identifier
  scope: (namespace_identifier) @scope name: (identifier) @name)))) @def.method
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator:
  (qualified_identifier scope: (namespace_identifier) @scope name: (identifier) @name)))) @def.method
(field_declaration_list (declaration declarator: (function_declarator declarator: [(identifier)
  (field_identifier)] @name)) @def.method)
(field_declaration_list (field_declaration declarator: (function_declarator declarator:
  (field_identifier) @name)) @def.method)
(alias_declaration name: (type_identifier) @name) @def.type
"""
)
_C_CALLS = """
(call_expression function: (identifier) @call)
(call_expression function: (field_expression field: (field_identifier) @call))
"""
_CPP_CALLS = (
    _C_CALLS
    + """
(call_expression function: (qualified_identifier name: (identifier) @call))
(call_expression function: (template_function name: (identifier) @call))
"""
)

_CS_DEFS = """
(class_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(struct_declaration name: (identifier) @name) @def.struct
(enum_declaration name: (identifier) @name) @def.enum
(record_declaration name: (identifier) @name) @def.record
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.constructor
(property_declaration name: (identifier) @name) @def.property
(delegate_declaration name: (identifier) @name) @def.type
(namespace_declaration name: [(identifier) (qualified_name)] @name) @def.namespace
(file_scoped_namespace_declaration name: [(identifier) (qualified_name)] @name) @def.namespace
(field_declaration (variable_declaration (variable_declarator name: (identifier) @name))) @def.field
"""
_CS_CALLS = """
(invocation_expression function: (identifier) @call)
(invocation_expression function: (member_access_expression name: (identifier) @call))
(object_creation_expression type: (identifier) @call)
"""

_RUBY_DEFS = """
(class name: [(constant) (scope_resolution name: (constant))] @name) @def.class
(module name: [(constant) (scope_resolution name: (constant))] @name) @def.module
(method name: (_) @name) @def.method
(singleton_method name: (_) @name) @def.method
(assignment left: (constant) @name) @def.constant
"""
_RUBY_CALLS = """
(call method: (identifier) @call)
"""

_PHP_DEFS = """
(class_declaration name: (name) @name) @def.class
(interface_declaration name: (name) @name) @def.interface
(trait_declaration name: (name) @name) @def.trait
(enum_declaration name: (name) @name) @def.enum
(function_definition name: (name) @name) @def.function
(method_declaration name: (name) @name) @def.method
(namespace_definition name: (namespace_name) @name) @def.namespace
(const_declaration (const_element (name) @name)) @def.constant
(property_declaration (property_element (variable_name (name) @name))) @def.property
"""
_PHP_CALLS = """
(function_call_expression function: [(name) (qualified_name)] @call)
(member_call_expression name: (name) @call)
(scoped_call_expression name: (name) @call)
(object_creation_expression [(name) (qualified_name)] @call)
"""


LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        "python",
        (".py", ".pyi", ".pyw"),
        _py,
        _PY_DEFS,
        _PY_CALLS,
        wrappers=frozenset({"decorated_definition"}),
    ),
    LanguageSpec(
        "javascript",
        (".js", ".jsx", ".mjs", ".cjs"),
        _js,
        _JS_DEFS,
        _JS_CALLS,
        wrappers=frozenset({"export_statement", "lexical_declaration", "variable_declaration"}),
    ),
    LanguageSpec(
        "typescript",
        (".ts", ".mts", ".cts"),
        _ts,
        _TS_DEFS,
        _JS_CALLS,
        wrappers=frozenset({"export_statement", "lexical_declaration", "variable_declaration"}),
    ),
    LanguageSpec(
        "tsx",
        (".tsx",),
        _tsx,
        _TS_DEFS,
        _JS_CALLS,
        wrappers=frozenset({"export_statement", "lexical_declaration", "variable_declaration"}),
    ),
    LanguageSpec(
        "go",
        (".go",),
        _go,
        _GO_DEFS,
        _GO_CALLS,
        wrappers=frozenset({"type_declaration", "const_declaration", "var_declaration"}),
    ),
    LanguageSpec(
        "rust",
        (".rs",),
        _rust,
        _RUST_DEFS,
        _RUST_CALLS,
    ),
    LanguageSpec(
        "java",
        (".java",),
        _java,
        _JAVA_DEFS,
        _JAVA_CALLS,
    ),
    LanguageSpec(
        "c",
        (".c", ".h"),
        _c,
        _C_DEFS,
        _C_CALLS,
        wrappers=frozenset({"type_definition"}),
    ),
    LanguageSpec(
        "cpp",
        (".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".ipp", ".tpp"),
        _cpp,
        _CPP_DEFS,
        _CPP_CALLS,
        wrappers=frozenset({"template_declaration", "type_definition"}),
    ),
    LanguageSpec(
        "csharp",
        (".cs",),
        _csharp,
        _CS_DEFS,
        _CS_CALLS,
    ),
    LanguageSpec(
        "ruby",
        (".rb", ".rake", ".gemspec"),
        _ruby,
        _RUBY_DEFS,
        _RUBY_CALLS,
        containers=frozenset({"class", "module"}),
    ),
    LanguageSpec(
        "php",
        (".php", ".phtml"),
        _php,
        _PHP_DEFS,
        _PHP_CALLS,
    ),
)

_BY_EXTENSION: dict[str, LanguageSpec] = {ext: spec for spec in LANGUAGES for ext in spec.extensions}


def language_of(rel: str) -> LanguageSpec | None:
    """The language of a path by its extension, or None for files indexed only for text search."""
    dot = rel.rfind(".")
    if dot < 0 or "/" in rel[dot:]:
        return None
    return _BY_EXTENSION.get(rel[dot:].lower())


@dataclass(frozen=True, slots=True)
class Queries:
    """One thread's compiled queries."""

    definitions: ts.Query
    calls: ts.Query
    literals: ts.Query


@dataclass(frozen=True, slots=True)
class Grammar:
    """A loaded grammar; its parser and compiled queries are made once per thread.

    py-tree-sitter does not document ``Parser`` or ``Query`` objects as safe to share between threads, and the
    server indexes in background threads, so each thread gets its own (compiling is cheap).
    """

    spec: LanguageSpec
    language: ts.Language
    _local: threading.local = field(default_factory=threading.local)

    def parser(self) -> ts.Parser:
        parser: ts.Parser | None = getattr(self._local, "parser", None)
        if parser is None:
            parser = ts.Parser(self.language)
            self._local.parser = parser
        return parser

    def queries(self) -> Queries:
        queries: Queries | None = getattr(self._local, "queries", None)
        if queries is None:
            queries = Queries(
                ts.Query(self.language, self.spec.definitions),
                ts.Query(self.language, self.spec.calls),
                ts.Query(self.language, _literal_query(self.language)),
            )
            self._local.queries = queries
        return queries


def _literal_query(language: ts.Language) -> str:
    """``@skip`` on comments and string literals, ``@keep`` on interpolations inside them."""
    patterns = []
    for kind_id in range(language.node_kind_count):
        kind = language.node_kind_for_id(kind_id)
        if not kind or not language.node_kind_is_named(kind_id) or not language.node_kind_is_visible(kind_id):
            continue
        if "interpolation" in kind or "substitution" in kind:
            patterns.append(f"({kind}) @keep")
        elif any(part in kind for part in _PART_KINDS):
            continue  # pieces of a literal: covered by the literal itself
        elif "comment" in kind or "string" in kind or kind in _LITERAL_KINDS:
            patterns.append(f"({kind}) @skip")
    return "\n".join(patterns)


_LITERAL_KINDS = frozenset({"char_literal", "character_literal", "heredoc_body", "regex"})
_PART_KINDS = ("content", "_start", "_end", "fragment", "delimiter", "marker", "encoding")


@cache
def grammar_for(name: str) -> Grammar:
    """Load a language's grammar (cached); queries compile on first use in each thread."""
    spec = next(s for s in LANGUAGES if s.name == name)
    grammar = Grammar(spec, ts.Language(spec.loader()))
    grammar.queries()  # compile now, so a broken query fails here rather than mid-index
    return grammar
