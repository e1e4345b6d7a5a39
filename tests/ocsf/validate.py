"""Validates OCSF events (JSON Lines on standard input) against a JSON Schema (the argument).

Prints one JSON object: {"events": N, "errors": ["line L: path: message", ...]}. Exits 0 either
way; the test decides.
"""

import json
import sys

import jsonschema


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        schema = json.load(file)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    events, errors = 0, []
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        events += 1
        event = json.loads(line)
        for error in validator.iter_errors(event):
            path = "/".join(str(part) for part in error.absolute_path)
            errors.append(f"line {number}: {path}: {error.message}")
    print(json.dumps({"events": events, "errors": errors}))


if __name__ == "__main__":
    main()
