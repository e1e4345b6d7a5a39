#!/usr/bin/env python3
"""Writes a report (docs/report-schema.md's example, grown) with N findings in N/20 accounts, for
measuring the HTML page at scale: varied users, idle days, credentials, changes and owners, and
a few names that need escaping.

Usage: many_findings.py N OUT.json [classic]

`classic` keeps to access keys and passwords (a report older versions can read).
"""

import copy
import json
import sys
from pathlib import Path


def main() -> int:
    count, out = int(sys.argv[1]), Path(sys.argv[2])
    classic = sys.argv[3:] == ["classic"]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "report-schema.md").read_text(encoding="utf-8")
    report = json.loads(doc.split("```json\n", 1)[1].split("```", 1)[0])
    template = report["findings"][0]
    kinds = [("access_key", "access-key-unused"), ("password", "password-unused"),
             ("ssh_key", "ssh-key-old"), ("bedrock_api_key", "bedrock-api-key-long-lived")]
    if classic:
        kinds = kinds[:2]
    accounts = max(1, count // 20)
    findings = []
    for n in range(count):
        finding = copy.deepcopy(template)
        account = f"{100_000_000_000 + n % accounts:012d}"
        credential, rule = kinds[n % len(kinds)]
        user = f"user-{n:06d}" if n % 997 else f"<b>user-{n:06d}</b> & 'co'"
        key = f"AKIA{n:016d}"
        finding.update({
            "finding_id": f"{account}/{user}/{credential}/{key}",
            "rule": rule,
            "account_id": account,
            "account_name": f"account-{n % accounts}",
            "user_name": user,
            "user_arn": f"arn:aws:iam::{account}:user/{user}",
            "credential": credential,
            "access_key_id": key if credential == "access_key" else None,
            "credential_id": None if credential == "password" else key,
            "idle_days": 45 + (n * 37) % 900,
            "change": "new" if n % 10 == 0 else "ongoing",
            "owner": {"tag": "team", "value": f"team-{n % 40}"},
        })
        findings.append(finding)
    report["findings"] = findings
    report["summary"]["findings"] = count
    out.write_text(json.dumps(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
