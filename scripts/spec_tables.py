#!/usr/bin/env python3
"""Writes Sources/SMCServer/App/SpecTables.swift from api-spec/openapi.yaml: what the server must know of the spec at
run time and the generated code does not tell it — the query parameters each operation takes (so an unknown one is
400 naming it) and the values of every enum by the Swift type the generator names it (so a bad value is refused
naming the allowed ones).

    python3 scripts/spec_tables.py          # rewrite the file
    python3 scripts/spec_tables.py --check  # exit 1 when the file is not what the spec gives (make lint-spec)
"""
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "api-spec" / "openapi.yaml"
OUT = ROOT / "Sources" / "SMCServer" / "App" / "SpecTables.swift"


def swift_type_name(field: str) -> str:
    """The idiomatic naming strategy: `setup_type` → `SetupType`."""
    parts = [p for p in re.split(r"[_\-\s]+", field) if p]
    return "".join(p[:1].upper() + p[1:] for p in parts)


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        path = node["$ref"].lstrip("#/").split("/")
        node = spec
        for part in path:
            node = node[part]
    return node


def collect_enums(spec):
    enums = {}

    def add(name, values):
        merged = enums.setdefault(name, [])
        for v in values:
            if v not in merged:
                merged.append(v)

    def walk(node, field=None):
        if not isinstance(node, dict) or "$ref" in node:
            return
        if "enum" in node and field:
            add(swift_type_name(field) + "Payload", [str(v) for v in node["enum"]])
        for key, value in (node.get("properties") or {}).items():
            walk(value, key)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key], field)
        for key in ("allOf", "oneOf", "anyOf"):
            for item in node.get(key, []):
                walk(item, field)

    for name, schema in spec["components"]["schemas"].items():
        if "enum" in schema:
            add(name, [str(v) for v in schema["enum"]])
        else:
            walk(schema)
    for _, op, _ in operations(spec):
        for param in op.get("parameters", []):
            param = resolve(spec, param)
            walk(param.get("schema", {}), param["name"])
        for media in request_body(spec, op).get("content", {}).values():
            walk(media.get("schema", {}))
    return enums


def operations(spec):
    """Every operation as (`METHOD /path/{template}`, the operation, its path item), in the spec's order."""
    for path, path_item in spec["paths"].items():
        for method, op in path_item.items():
            if method in ("get", "put", "post", "patch", "delete", "head", "options") and isinstance(op, dict):
                yield f"{method.upper()} {path}", op, path_item


def request_body(spec, op):
    """The operation's request body object (resolved), or {} when it takes none."""
    return resolve(spec, op["requestBody"]) if "requestBody" in op else {}


def collect_queries(spec):
    queries = {}
    for key, op, path_item in operations(spec):
        params = [resolve(spec, p) for p in path_item.get("parameters", []) + op.get("parameters", [])]
        queries[key] = sorted({p["name"] for p in params if p.get("in") == "query"})
    return queries


def collect_optional_bodies(spec):
    return sorted(key for key, op, _ in operations(spec)
                  if "requestBody" in op and not request_body(spec, op).get("required", False))


def collect_required_headers(spec):
    out = {}
    for key, op, _ in operations(spec):
        params = [resolve(spec, p) for p in op.get("parameters", [])]
        names = [p["name"] for p in params if p.get("in") == "header" and p.get("required")]
        if names:
            out[key] = sorted(names)
    return out


def collect_integer_fields(spec):
    """Per operation with a JSON body: the JSON pointers (`*` for any array index or map key) whose type is integer."""
    out = {}

    def walk(node, path, found, depth=0):
        node = resolve(spec, node)
        if not isinstance(node, dict) or depth > 12:
            return
        types = node.get("type")
        types = types if isinstance(types, list) else [types]
        if "integer" in types:
            found.add(path or "/")
        for key, value in (node.get("properties") or {}).items():
            walk(value, f"{path}/{key}", found, depth + 1)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}/*", found, depth + 1)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}/*", found, depth + 1)
        for key in ("allOf", "oneOf", "anyOf"):
            for item in node.get(key, []):
                walk(item, path, found, depth + 1)

    for key, op, _ in operations(spec):
        found = set()
        for media_type, media in request_body(spec, op).get("content", {}).items():
            if "json" in media_type:
                walk(media.get("schema", {}), "", found)
        if found:
            out[key] = sorted(found)
    return out


def collect_public(spec):
    """Operations that need no credentials (`security: []`)."""
    return sorted(key for key, op, _ in operations(spec) if op.get("security") == [])


def collect_merge_patch(spec):
    """Operations whose body is a JSON Merge Patch (RFC 7386: null removes a member), whatever media type is sent."""
    return sorted(key for key, op, _ in operations(spec)
                  if "application/merge-patch+json" in request_body(spec, op).get("content", {}))


def swift_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(spec) -> str:
    lines = [
        "// Generated by scripts/spec_tables.py from api-spec/openapi.yaml: do not edit; `make lint-spec` checks it.",
        "",
        "/// What the server needs to know of the REST contract at run time that the generated code does not expose.",
        "enum SpecTables {",
    ]

    def table(doc, declaration, rows):
        """One `static let` with its doc lines; `rows` are the lines between its brackets."""
        if len(lines) > 4:
            lines.append("")
        lines.extend(f"    /// {d}" for d in doc)
        lines.append(f"    static let {declaration} = [")
        lines.extend(f"        {row}," for row in rows)
        lines.append("    ]")

    def string_list(values):
        return ", ".join(swift_string(v) for v in values)

    def keyed(mapping):
        return [f"{swift_string(k)}: [{string_list(mapping[k])}]" for k in sorted(mapping)]

    table(["The query parameters of each operation, by `METHOD /path/{template}`."],
          "queryParameters: [String: Set<String>]", keyed(collect_queries(spec)))
    table(["The allowed values of each enum, by the name of the Swift type generated for it (`Timeframe`,",
           "`SetupTypePayload`, …), which is the name a failed decoding reports."],
          "enumValues: [String: [String]]", keyed(collect_enums(spec)))
    table(["Operations whose request body is optional (every member of it optional too): an empty body reads as `{}`."],
          "optionalRequestBodies: Set<String>", [swift_string(k) for k in collect_optional_bodies(spec)])
    table(["The header parameters each operation requires."],
          "requiredHeaders: [String: [String]]", keyed(collect_required_headers(spec)))
    table(["The integer members of each operation's JSON body, as JSON pointers (`*`: any array index or map key)."],
          "integerFields: [String: [String]]", keyed(collect_integer_fields(spec)))
    table(["Operations that take no credentials (`security: []`); every other one needs an `Authorization` header."],
          "publicOperations: Set<String>", [swift_string(k) for k in collect_public(spec)])
    table(["Operations whose body is a JSON Merge Patch, where `null` removes a member."],
          "mergePatchOperations: Set<String>", [swift_string(k) for k in collect_merge_patch(spec)])
    schemas = spec["components"]["schemas"]
    codes = schemas["Problem"]["properties"]["code"]["x-problem-codes"]
    table(["The problem codes the spec names (`x-problem-codes` on `Problem.code`), with their statuses."],
          "problemCodes: [String: Int]", [f"{swift_string(k)}: {int(codes[k]['status'])}" for k in sorted(codes)])
    table(["The codes of a rejected sync mutation (`x-codes` on `SyncMutationResult.code`)."],
          "syncRejectionCodes: [String]", [swift_string(k) for k in schemas["SyncMutationResult"]["properties"]["code"]["x-codes"]])
    lines += ["}", ""]
    return "\n".join(lines)


def main():
    spec = yaml.safe_load(SPEC.read_text())
    text = render(spec)
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is not what {SPEC.relative_to(ROOT)} gives: run python3 scripts/spec_tables.py",
                  file=sys.stderr)
            sys.exit(1)
        return
    OUT.write_text(text)


if __name__ == "__main__":
    main()
