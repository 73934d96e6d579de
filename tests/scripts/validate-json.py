#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Validate JSON documents against the attestd schemas in proto/schema.

  validate-json.py [--schema-dir DIR] [--expect-invalid] SCHEMA FILE...
  validate-json.py [--schema-dir DIR] --check-schema SCHEMA...

SCHEMA is a schema's name ("verdict", "verdict.schema.json") looked up in
the schema directory, or a path. FILE "-" reads standard input. References
between the schemas ("defs.schema.json#/$defs/timestamp") are resolved in
the schema directory; nothing is fetched from the network. Documents are
read as strictly as attestd reads them: duplicate keys, NaN and Infinity
are errors.

--check-schema checks that each schema is valid against its meta-schema
and that every "$ref" in it resolves. --expect-invalid turns the check
around for negative tests: every FILE must be rejected.

Exit status: 0 when everything is valid (with --expect-invalid: when every
FILE was rejected), 1 otherwise or when a schema cannot be read, 2 on a
usage error. Works with jsonschema 4.10
(Debian 12, RefResolver) and with later versions (the referencing library).
"""

import argparse
import json
import os
import sys

try:
    import jsonschema
    from jsonschema.validators import validator_for
except ImportError:
    sys.stderr.write("validate-json.py: the python3 jsonschema module is missing "
                     "(apt-get install python3-jsonschema)\n")
    sys.exit(1)

SCHEMA_SUFFIX = ".schema.json"
MESSAGE_MAX = 300


class DocumentError(Exception):
    pass


def _reject_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise DocumentError("duplicate key %s" % json.dumps(key))
        obj[key] = value
    return obj


def _reject_constant(name):
    raise DocumentError("%s is not JSON" % name)


def load_json(path):
    """The document at path ("-": stdin); raises DocumentError."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise DocumentError("cannot read: %s" % e) from None
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates,
                          parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise DocumentError("not JSON: %s at line %d column %d" % (e.msg, e.lineno, e.colno)) from None


def default_schema_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "proto", "schema"))


def uri_of(path):
    return "file://" + os.path.abspath(path)


class Schemas:
    """Every *.schema.json of one directory, each with "$id" set to its file
    URI (unless it has one), so that relative references resolve between
    them with both the old and the new jsonschema reference machinery."""

    def __init__(self, directory):
        self.directory = directory
        self.docs = {}          # uri -> schema
        try:
            names = sorted(os.listdir(directory))
        except OSError as e:
            raise DocumentError("schema directory %s: %s" % (directory, e.strerror)) from None
        for name in names:
            if name.endswith(SCHEMA_SUFFIX):
                self.add(os.path.join(directory, name))
        self._registry = None
        try:
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012
            self._registry = Registry().with_resources(
                (uri, Resource.from_contents(doc, default_specification=DRAFT202012))
                for uri, doc in self.docs.items())
        except ImportError:
            pass

    def add(self, path):
        doc = load_json(path)
        if not isinstance(doc, dict):
            raise DocumentError("%s: a schema must be a JSON object" % path)
        uri = uri_of(path)
        doc.setdefault("$id", uri)
        self.docs[uri] = doc
        return uri

    def find(self, name):
        """The URI of the schema called name (a name or a path)."""
        candidates = [name] if os.sep in name else []
        candidates += [os.path.join(self.directory, name),
                       os.path.join(self.directory, name + SCHEMA_SUFFIX)]
        for path in candidates:
            if os.path.isfile(path):
                uri = uri_of(path)
                if uri not in self.docs:
                    self.add(path)
                    self._registry = None if self._registry is None else self._registry.with_contents(
                        [(uri, self.docs[uri])])
                return uri
        raise DocumentError("no schema '%s' (looked in %s)" % (name, self.directory))

    def validator(self, uri):
        schema = self.docs[uri]
        cls = validator_for(schema)
        checker = cls.FORMAT_CHECKER if hasattr(cls, "FORMAT_CHECKER") else jsonschema.FormatChecker()
        if self._registry is not None:
            try:
                return cls(schema, registry=self._registry, format_checker=checker)
            except TypeError:
                pass    # referencing installed, but a jsonschema without registry support
        resolver = jsonschema.RefResolver(uri, schema, store=self.docs)
        return cls(schema, resolver=resolver, format_checker=checker)

    def resolve(self, base, ref):
        """Resolve ref from the schema at base; raises on a dangling reference."""
        if self._registry is not None:
            try:
                return self._registry.resolver(base_uri=base).lookup(ref).contents
            except Exception as e:  # referencing raises its own Unresolvable family
                why = str(e).split(" within ")[0]    # not the whole target document
                raise DocumentError("cannot resolve %s: %s" % (ref, shorten(why))) from None
        resolver = jsonschema.RefResolver(base, self.docs[base], store=self.docs)
        try:
            return resolver.resolve(ref)[1]
        except jsonschema.RefResolutionError as e:
            raise DocumentError("cannot resolve %s: %s" % (ref, e)) from None


def pointer(path):
    """A JSON Pointer for a jsonschema error path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path) or "(document)"


def shorten(text):
    return text if len(text) <= MESSAGE_MAX else text[:MESSAGE_MAX] + "..."


def report(name, error, indent="  "):
    where = pointer(error.absolute_path)
    rule = "/".join(str(p) for p in error.absolute_schema_path)
    print("%s%s: %s: %s [schema: %s]" % (indent, name, where, shorten(error.message), rule))
    if error.context:
        best = jsonschema.exceptions.best_match(error.context)
        print("%s    best match: %s: %s" % (indent, pointer(best.absolute_path), shorten(best.message)))


def validate_files(schemas, schema_name, files, expect_invalid=False):
    uri = schemas.find(schema_name)
    validator = schemas.validator(uri)
    label = os.path.basename(uri)
    status = 0
    for path in files:
        name = "<stdin>" if path == "-" else path
        try:
            doc = load_json(path)
        except DocumentError as e:
            if expect_invalid:
                print("ok   %s is rejected as expected: %s" % (name, e))
            else:
                print("FAIL %s: %s" % (name, e))
                status = 1
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        if expect_invalid:
            if errors:
                print("ok   %s is rejected as expected: %s: %s" % (
                    name, pointer(errors[0].absolute_path), shorten(errors[0].message)))
            else:
                print("FAIL %s is a valid %s document, but should not be" % (name, label[:-len(SCHEMA_SUFFIX)]))
                status = 1
        elif errors:
            print("FAIL %s: %d error%s against %s" % (name, len(errors), "" if len(errors) == 1 else "s", label))
            for error in errors:
                report(name, error)
            status = 1
        else:
            print("ok   %s is a valid %s document" % (name, label[:-len(SCHEMA_SUFFIX)]))
    return status


def refs(node, where=""):
    """Every ("$ref" value, JSON Pointer of it) under node."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = where + "/" + key.replace("~", "~0").replace("/", "~1")
            if key == "$ref" and isinstance(value, str):
                yield value, here
            else:
                yield from refs(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, "%s/%d" % (where, i))


def check_schemas(schemas, names):
    status = 0
    for schema_name in names:
        try:
            uri = schemas.find(schema_name)
        except DocumentError as e:
            print("FAIL %s: %s" % (schema_name, e))
            status = 1
            continue
        schema = schemas.docs[uri]
        name = os.path.basename(uri)
        problems = []
        cls = validator_for(schema)
        if schema.get("$schema") != cls.META_SCHEMA.get("$id", cls.META_SCHEMA.get("id")):
            problems.append("$schema %s is not a meta-schema this jsonschema knows" % schema.get("$schema"))
        for error in cls(cls.META_SCHEMA).iter_errors(schema):
            problems.append("%s: %s" % (pointer(error.absolute_path), shorten(error.message)))
        for ref, where in refs(schema):
            try:
                schemas.resolve(uri, ref)
            except DocumentError as e:
                problems.append("%s: %s" % (where, e))
        if problems:
            print("FAIL %s: not a valid schema" % name)
            for p in problems:
                print("  %s: %s" % (name, p))
            status = 1
        else:
            print("ok   %s is a valid schema" % name)
    return status


def main(argv):
    parser = argparse.ArgumentParser(
        prog="validate-json.py",
        description="Validate JSON documents against an attestd schema (proto/schema).")
    parser.add_argument("--schema-dir", default=default_schema_dir(),
                        help="directory of the *.schema.json files (default: proto/schema of this tree)")
    parser.add_argument("--check-schema", action="store_true",
                        help="check the named schemas themselves instead of documents")
    parser.add_argument("--expect-invalid", action="store_true",
                        help="negative test: succeed only if every FILE is rejected")
    parser.add_argument("schema", help="schema name (verdict, verdict.schema.json) or path")
    parser.add_argument("files", nargs="*", metavar="FILE", help="JSON documents ('-': standard input)")
    args = parser.parse_args(argv)
    if not args.check_schema and not args.files:
        parser.error("no FILE to validate (use '-' for standard input)")
    try:
        schemas = Schemas(args.schema_dir)
        if args.check_schema:
            return check_schemas(schemas, [args.schema] + args.files)
        return validate_files(schemas, args.schema, args.files, args.expect_invalid)
    except DocumentError as e:
        print("FAIL %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
