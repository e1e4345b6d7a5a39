#!/usr/bin/env python3
"""Generates the JSON Schema of one OCSF event class from the OCSF schema's own files.

The OCSF schema (https://github.com/ocsf/ocsf-schema, Apache-2.0) is a set of JSON files: a
dictionary of attributes and types, event classes that extend one another, objects, and
profiles. This script resolves one class at one released version into a JSON Schema (draft
2020-12) that a validator can check events against:

- a class's attributes are its ancestors' (`extends`) overlaid with its own, enums merged;
- `$include`d profile attributes are allowed but never required (a profile is optional);
- an attribute's type comes from the dictionary: scalar types (`*_t`) map to JSON types (with
  their regex and range), other types are objects, each resolved the same way into `$defs`;
- `requirement: required` makes a property required; objects' `at_least_one` and `just_one`
  constraints become `anyOf` / `oneOf`; unknown properties are refused, except in the generic
  `object` type (`unmapped`, `data`);
- the class's `class_uid`, `category_uid` and `type_uid` are fixed to its values.

It is run by hand, offline, against a checkout of the OCSF schema; its output is committed as
test data (tests/ocsf/README.md says where it came from and under which licence):

    python3 tests/ocsf/generate_schema.py --repo ../ocsf-schema --version 1.8.0 \\
        --class compliance_finding --out tests/ocsf/compliance_finding-1.8.0.schema.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import PurePosixPath

SCALARS = {
    "string_t": {"type": "string"},
    "integer_t": {"type": "integer"},
    "long_t": {"type": "integer"},
    "float_t": {"type": "number"},
    "boolean_t": {"type": "boolean"},
    "json_t": {},
}


class Schema:
    def __init__(self, repo: str, version: str):
        self.repo, self.version = repo, version
        dictionary = self.load("dictionary.json")
        self.attributes = dictionary["attributes"]
        self.types = dictionary["types"]["attributes"]
        self.categories = self.load("categories.json")["attributes"]
        self.files = subprocess.run(
            ["git", "-C", repo, "ls-tree", "-r", "--name-only", version],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        self.defs: dict[str, dict] = {}

    def load(self, path: str) -> dict:
        text = subprocess.run(
            ["git", "-C", self.repo, "show", f"{self.version}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(text)

    def find(self, folder: str, name: str) -> dict:
        """The definition named `name` under `folder` (events or objects)."""
        for path in self.files:
            if path.startswith(folder + "/") and PurePosixPath(path).stem == name:
                definition = self.load(path)
                if definition.get("name") == name:
                    return definition
        raise KeyError(f"no {folder} definition named {name}")

    def merged(self, folder: str, name: str) -> tuple[dict, dict]:
        """A definition's attributes, its ancestors' overlaid with its own, and its constraints."""
        definition = self.find(folder, name)
        attributes: dict[str, dict] = {}
        constraints = {}
        parent = definition.get("extends")
        if parent and parent != "object":
            attributes, constraints = self.merged(folder, parent)
            attributes = {key: dict(value) for key, value in attributes.items()}
        own = dict(definition.get("attributes", {}))
        for include in own.pop("$include", []):
            for key, value in self.load(include).get("attributes", {}).items():
                # A profile's attributes are allowed, never required: a profile is optional.
                attributes.setdefault(key, dict(value, requirement="optional", profile_included=True))
        for key, value in own.items():
            base = attributes.get(key, {})
            enum = dict(base.get("enum", {}))
            enum.update(value.get("enum", {}))
            attributes[key] = {**base, **value, **({"enum": enum} if enum else {})}
        constraints = definition.get("constraints", constraints)
        return attributes, constraints

    def scalar(self, type_name: str) -> dict:
        if type_name in SCALARS:
            return dict(SCALARS[type_name])
        definition = self.types[type_name]
        base = definition.get("type")
        if base is None:
            raise KeyError(f"type {type_name} has no base type")
        schema = self.scalar(base)
        if "regex" in definition:
            schema["pattern"] = definition["regex"]
        if "max_len" in definition:
            schema["maxLength"] = definition["max_len"]
        if "range" in definition:
            low, high = definition["range"]
            schema["minimum"], schema["maximum"] = low, high
        return schema

    def attribute(self, name: str, local: dict) -> dict:
        """The JSON Schema of one attribute, from the dictionary and the local overrides."""
        entry = {**self.attributes.get(name, {}), **local}
        enum = dict(self.attributes.get(name, {}).get("enum", {}))
        enum.update(local.get("enum", {}))
        type_name = entry.get("type")
        if type_name is None:
            raise KeyError(f"attribute {name} has no type")
        if type_name.endswith("_t"):
            schema = self.scalar(type_name)
            if enum:
                values = [int(key) if schema.get("type") == "integer" else key for key in enum]
                schema["enum"] = sorted(values, key=str)
        elif type_name == "object":
            schema = {"type": "object"}
        else:
            schema = {"$ref": f"#/$defs/{self.object(type_name)}"}
        if entry.get("is_array"):
            schema = {"type": "array", "items": schema}
        return schema

    def object(self, name: str) -> str:
        """Resolves an object type into `$defs` once; its definition's key."""
        if name not in self.defs:
            self.defs[name] = {}
            attributes, constraints = self.merged("objects", name)
            self.defs[name] = self.shape(attributes, constraints)
        return name

    def shape(self, attributes: dict, constraints: dict) -> dict:
        properties = {name: self.attribute(name, local) for name, local in sorted(attributes.items())}
        required = sorted(name for name, local in attributes.items() if local.get("requirement") == "required")
        schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        if constraints.get("at_least_one"):
            schema["anyOf"] = [{"required": [name]} for name in constraints["at_least_one"]]
        if constraints.get("just_one"):
            schema["oneOf"] = [{"required": [name]} for name in constraints["just_one"]]
        return schema

    def event_class(self, name: str) -> dict:
        definition = self.find("events", name)
        attributes, constraints = self.merged("events", name)
        category = self.categories[definition.get("category") or self.find("events", definition["extends"])["category"]]
        class_uid = category["uid"] * 1000 + definition["uid"]
        schema = self.shape(attributes, constraints)
        properties = schema["properties"]
        activities = [value for value in properties["activity_id"]["enum"]]
        properties["class_uid"] = {"const": class_uid}
        properties["category_uid"] = {"const": category["uid"]}
        properties["type_uid"] = {"enum": sorted(class_uid * 100 + activity for activity in activities)}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://schema.ocsf.io/{self.version}/classes/{name}",
            "title": f"OCSF {self.version} {definition['caption']} (class_uid {class_uid})",
            "description": "Generated by tests/ocsf/generate_schema.py from the OCSF schema "
            f"(https://github.com/ocsf/ocsf-schema, tag {self.version}, Apache-2.0).",
            **schema,
            "$defs": dict(sorted(self.defs.items())),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="a git checkout of ocsf/ocsf-schema")
    parser.add_argument("--version", required=True, help="a release tag, e.g. 1.8.0")
    parser.add_argument("--class", dest="event_class", required=True)
    parser.add_argument("--out", required=True)
    options = parser.parse_args()
    schema = Schema(options.repo, options.version).event_class(options.event_class)
    with open(options.out, "w", encoding="utf-8") as out:
        json.dump(schema, out, indent=1, sort_keys=False)
        out.write("\n")


if __name__ == "__main__":
    main()
