#!/usr/bin/env python3
"""A seeded AWS Organization on moto, for stalecreds' demo, integration tests and benchmark.

Starts moto's server on 127.0.0.1 behind a thin WSGI layer that makes it behave more like AWS
where moto is kinder (see shared/moto-notes.md):

- AssumeRole is refused (AccessDenied) when the role does not exist in the target account, or
  when its trust policy requires an ExternalId that the request does not carry.
- Optional latency on every request (or on chosen actions), and optional `Throttling` answers to
  a share of IAM requests, both set through POST /_fixture/config.
- Faults, seeded: 500 InternalFailure, 503 ServiceUnavailable, dropped connections and answers
  slower than the client's attempt timeout, on any service, injected before the emulator acts
  on the request, and for IAM changes also after it acted (the case that double-applies). Either
  a random mix at a rate, or scripted per action.
- Credential reports as AWS keeps them: generated with their real time, kept as they were then
  and handed back for four hours (POST /_fixture/reports ages or expires them), in AWS's shape
  (a root row, `N/A` where AWS writes it, the password's last change, the key's region and
  service). A new report can take time, as AWS's does (`report_ready_after_ms`): until then
  GenerateCredentialReport says INPROGRESS and GetCredentialReport 404 ReportInProgress.
- A password's dates as AWS keeps them: GetLoginProfile's CreateDate is when the profile was
  created, and a reset (UpdateLoginProfile, POST /_fixture/reset-password) moves only the
  report's `password_last_changed`.
- The scanner's deployed role (POST /_fixture/deployed-role): requests signed with its keys are
  judged against the policy deploy/scanner.yaml gives it (deployed_role.py), and S3 answers it
  403, not 404, for a missing object when it may not list the bucket.
- Every request is counted by account, service and action: GET /_fixture/stats.
- Security Hub's BatchImportFindings, which moto takes almost unchecked, is checked as AWS
  would: the request against the service model botocore ships (types, required members, enums,
  lengths and sizes, patterns: 400 InvalidInputException), and each finding's AwsAccountId and
  ProductArn against the calling account (refused in FailedFindings, AccessDeniedException).
  GET /_fixture/securityhub-findings?account=ID reads what moto holds (GetFindings).

Seeds one of the scenarios below through moto's own APIs (with the administrator's or an
assumed role's credentials, never the users' keys, which would mark them used), then sets the
dates AWS would have recorded directly on moto's backend. Prints one JSON line on standard
output when ready: {"endpoint": ..., "accounts": {name: id}, ...}. Stops when standard input
closes, or after --max-seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from datetime import datetime, timedelta, timezone

import boto3
from deployed_role import Policy, judged, render
from service_credentials import ACTIONS as SERVICE_CREDENTIAL_ACTIONS, ServiceCredentials
from botocore.session import get_session as botocore_session
from botocore.validate import ParamValidator
from moto.iam.models import AccessKeyLastUsed, get_account_id_from, iam_backends
from moto.securityhub.models import securityhub_backends
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

MANAGEMENT = "123456789012"
AUDIT_ROLE = "stalecreds-audit"
REMEDIATION_ROLE = "stalecreds-remediate"
REPORT_BUCKET = "stalecreds-reports"
DAY = 86400.0
HOUR = 3600.0

# The IAM actions the audit role allows: exactly what stalecreds calls (docs/permissions.md).
AUDIT_ACTIONS = [
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:ListUsers",
    "iam:GetLoginProfile",
    "iam:GetAccountSummary",
    "iam:ListUserTags",
    "iam:GetUser",
    "iam:ListSSHPublicKeys",
    "iam:ListServiceSpecificCredentials",
    "iam:ListSigningCertificates",
]

# IAM changes: faults can also hit them after the emulator acted.
IAM_CHANGES = {
    "UpdateAccessKey", "DeleteAccessKey", "DeleteLoginProfile", "UpdateSSHPublicKey", "UpdateSigningCertificate",
}
FAULT_KINDS = ("500", "503", "drop", "slow")

# The remediation role: the changes, and the live reads that verify them first.
REMEDIATION_ACTIONS = [
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:GetLoginProfile",
    "iam:GetUser",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:DeleteLoginProfile",
    "iam:ListSSHPublicKeys",
    "iam:UpdateSSHPublicKey",
    "iam:ListServiceSpecificCredentials",
    "iam:UpdateServiceSpecificCredential",
    "iam:ListSigningCertificates",
    "iam:UpdateSigningCertificate",
]


def user(name, password=None, keys=(), password_last_used=None, tags=None, ssh=(), certs=(), services=()):
    """A user: `password` is (set_seconds_ago, used_seconds_ago|None); each key is
    (status, created_seconds_ago, used_seconds_ago|None); `tags` is {key: value}; each SSH key
    and signing certificate is (status, uploaded_seconds_ago); each service-specific credential
    is (service, status, created_seconds_ago, expires_in_seconds|None)."""
    return {
        "name": name,
        "password": password,
        "keys": list(keys),
        "password_last_used": password_last_used,
        "tags": tags or {},
        "ssh": list(ssh),
        "certs": list(certs),
        "services": list(services),
    }


# The demo organization. Ages are seconds before the fixture starts; the boundary cases keep
# two hours of margin so that a slow test run cannot move them across a day.
DEMO = {
    "management": [
        user("ci-deploy", keys=[("Active", 700 * DAY, 2 * DAY)]),
        user("old-admin", password=(400 * DAY, 200 * DAY)),
    ],
    "members": [
        {
            "name": "prod",
            "ou": "workloads/production",
            "audit_role": True,
            "users": [
                # Two keys of different ages: the old one is in use, the second never used.
                # Tagged with their owners (owner tag keys, when the configuration names them).
                user(
                    "alice",
                    keys=[("Active", 300 * DAY, 1 * DAY), ("Active", 100 * DAY, None)],
                    tags={"team": "payments"},
                ),
                # A password never used, set 90 days ago.
                user("bob", password=(90 * DAY, None)),
                # Exactly past the threshold, and just short of it.
                user(
                    "carol",
                    keys=[("Active", 400 * DAY, 45 * DAY + 2 * HOUR)],
                    tags={"Owner": "carol@example.com", "team": "data"},
                ),
                user("erin", keys=[("Active", 400 * DAY, 44 * DAY + 22 * HOUR)]),
                # An inactive key: information, not a finding.
                user("dave", keys=[("Inactive", 500 * DAY, None)]),
                # A break-glass user (exempt when the configuration says so).
                user("breakglass-admin", password=(300 * DAY, None)),
            ],
        },
        {
            "name": "dev",
            "ou": "workloads",
            "audit_role": True,
            "users": [
                user("gina", password=(10 * DAY, 2 * DAY)),
                # Tagged exempt (an exemption when the configuration says so).
                user("hank", keys=[("Active", 60 * DAY, None)], tags={"stalecreds:exempt": "true"}),
                # A password deleted long ago: PasswordLastUsed survives, the login profile does not.
                user("ivan", password_last_used=100 * DAY),
                # Two keys created in the same second: the report cannot tell them apart.
                user(
                    "judy",
                    keys=[("Active", 200 * DAY, 3 * DAY), ("Active", 200 * DAY, None)],
                    tags={"team": "platform"},
                ),
            ],
        },
        # No audit role: AssumeRole is refused and the account is reported as failed.
        {
            "name": "sandbox",
            "ou": "sandboxes",
            "audit_role": False,
            "users": [user("zed", keys=[("Active", 90 * DAY, None)])],
        },
        # Closed: SUSPENDED, reported as skipped.
        {"name": "closed", "audit_role": True, "closed": True, "users": []},
    ],
}


# The long-lived credentials AWS records no use for, one account of them: found by age (SSH keys
# and certificates at 90 days, service-specific credentials at 90, Bedrock API keys at 30 or
# when they never expire), inactive or expired ones as information, two exempt users.
KINDS = {
    "management": [],
    "members": [
        {
            "name": "tools",
            "ou": "workloads",
            "audit_role": True,
            "users": [
                user("sam", ssh=[("Active", 200 * DAY), ("Active", 10 * DAY)], tags={"team": "platform"}),
                user("cora", services=[
                    ("codecommit.amazonaws.com", "Active", 120 * DAY, None),
                    ("cassandra.amazonaws.com", "Inactive", 300 * DAY, None),
                ]),
                user("bea", services=[
                    ("bedrock.amazonaws.com", "Active", 10 * DAY, None),
                    ("logs.amazonaws.com", "Active", 100 * DAY, 30 * DAY),
                ]),
                user("cid", certs=[("Active", 150 * DAY), ("Active", 20 * DAY)]),
                user("ed", ssh=[("Expired", 500 * DAY)]),
                user("breakglass-ops", ssh=[("Active", 400 * DAY)]),
                user("tess", certs=[("Active", 400 * DAY)], tags={"stalecreds:exempt": "true"}),
            ],
        },
    ],
}


# The bench's users are owned by this many teams (tag `team`), in turn: owner messages.
BENCH_TEAMS = 250


def bench_scenario(accounts: int, users: int, seed: int = 7) -> dict:
    """`accounts` member accounts of `users` users each, with a deterministic mix of credentials;
    each user tagged `team` with one of `BENCH_TEAMS` teams, in turn."""
    rng = random.Random(seed)

    def random_user(index: int, team: int) -> dict:
        # Ages are whole days plus half a day, so that no credential crosses a day boundary (and
        # changes its idle days) while the benchmark runs its scans one after another.
        def ago(days: int) -> float:
            return days * DAY + 12 * HOUR

        password = None
        if rng.random() < 0.5:
            set_days = rng.randint(5, 400)
            used = None if rng.random() < 0.3 else ago(rng.randint(0, set_days - 1))
            password = (ago(set_days), used)
        keys = []
        for _ in range(rng.choice([0, 1, 1, 2])):
            created_days = rng.randint(1, 600)
            used = None if rng.random() < 0.3 else ago(rng.randint(0, created_days - 1))
            keys.append(("Active" if rng.random() < 0.85 else "Inactive", ago(created_days), used))
        return user(f"user-{index:04d}", password=password, keys=keys, tags={"team": f"team-{team:03d}"})

    members = [
        {
            "name": f"member-{n:03d}",
            "audit_role": True,
            "users": [random_user(i, (n * users + i) % BENCH_TEAMS) for i in range(users)],
        }
        for n in range(accounts)
    ]
    return {"management": [], "members": members}


class Fixture:
    """The state of the AWS-like layer: latency, throttling, counts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency = 0.0
        self.throttle_rate = 0.0
        self.rng = random.Random(11)
        self.counts: Counter = Counter()
        self.key_accounts: dict[str, str] = {}
        # (account, action) pairs answered AccessDenied, as an IAM policy without them would.
        self.denied: set[tuple[str, str]] = set()
        # Keys marked used (now) when read with GetAccessKeyLastUsed, after letting the given
        # number of reads pass untouched: "used after the report" (0), or "used after the scan
        # confirmed it, before the change" (1).
        self.touch_on_read: dict[str, int] = {}
        # Each account's credential report, as AWS keeps it: the CSV as it was when generated,
        # and when that was; reused for four hours (see `credential_report`).
        self.reports: dict[str, dict] = {}
        # How long a new report takes to generate (moto's are ready at once).
        self.report_delay = timedelta(0)
        # Access keys of the deployed scanner role (`/_fixture/deployed-role`): their requests
        # are judged against the role's policy, as AWS would (deployed_role.py).
        self.enforced: dict[str, Policy] = {}
        self.endpoint = ""
        # IAM's service-specific credentials, which moto does not have.
        self.service_credentials = ServiceCredentials()
        # Extra latency for chosen actions: {(service, action): seconds}, before acting.
        self.slow: dict[tuple[str, str], float] = {}
        # A random mix of faults: share of requests, kinds, the share of IAM changes hit again
        # after acting, how long a slow answer takes.
        self.fault_rate = 0.0
        self.fault_kinds: list[str] = []
        self.after_rate = 0.0
        self.slow_seconds = 3.0
        # Scripted faults, consumed in order: {action: [kind, ...]}, before or after acting.
        self.before: dict[str, list[str]] = {}
        self.after: dict[str, list[str]] = {}
        self.injected: Counter = Counter()

    def account_of(self, access_key: str) -> str:
        with self.lock:
            known = self.key_accounts.get(access_key)
        if known is None:
            known = get_account_id_from(access_key)
            with self.lock:
                self.key_accounts[access_key] = known
        return known

    def record(self, account: str, service: str, action: str) -> None:
        with self.lock:
            self.counts[(account, service, action)] += 1

    def throttled(self) -> bool:
        with self.lock:
            return self.throttle_rate > 0 and self.rng.random() < self.throttle_rate

    def fault(self, action: str, service: str, when: str) -> str | None:
        """The fault to inject on this request `before` or `after` the emulator acts, if any."""
        with self.lock:
            script = self.before if when == "before" else self.after
            if script.get(action):
                kind = script[action].pop(0)
            else:
                rate = self.fault_rate if when == "before" else self.after_rate
                if rate <= 0 or not self.fault_kinds or self.rng.random() >= rate:
                    return None
                kinds = self.fault_kinds
                # A slow Publish that SNS then accepts is a duplicate no client can prevent on a
                # standard topic (docs/digest.md): not part of the random mix.
                if service == "sns":
                    kinds = [kind for kind in kinds if kind != "slow"] or ["500"]
                kind = self.rng.choice(kinds)
            self.injected[(when, action, kind)] += 1
            return kind

    def reads_to_touch(self, key_id: str | None) -> bool:
        """Whether this read of `key_id` is the one that marks it used."""
        with self.lock:
            if key_id not in self.touch_on_read:
                return False
            if self.touch_on_read[key_id] > 0:
                self.touch_on_read[key_id] -= 1
                return False
            del self.touch_on_read[key_id]
            return True

    def stats(self) -> dict:
        with self.lock:
            rows = [
                {"account": a, "service": s, "action": x, "count": n} for (a, s, x), n in sorted(self.counts.items())
            ]
            faults = [
                {"when": w, "action": x, "kind": k, "count": n} for (w, x, k), n in sorted(self.injected.items())
            ]
        return {"requests": rows, "faults": faults}


def error_xml(namespace: str, code: str, message: str) -> bytes:
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>fixture-{time.time_ns()}</RequestId></ErrorResponse>"
    ).encode()


def s3_action(environ) -> str:
    """The S3 operation of a REST request, from its method and query."""
    method = environ.get("REQUEST_METHOD", "GET")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    path = environ.get("PATH_INFO", "").lstrip("/")
    has_key = "/" in path and not path.endswith("/")
    if method == "PUT":
        return "PutObject" if has_key else "CreateBucket"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    if method in ("GET", "HEAD"):
        if has_key:
            return "GetObject" if method == "GET" else "HeadObject"
        return "ListObjectsV2" if "list-type" in query else "ListObjects"
    return method


def fault_answer(kind: str, service: str, target: str, environ, start_response):
    """Answers with a server-side fault: 500 or 503 in the service's own error shape, or a
    dropped connection."""
    if kind == "drop":
        connection = environ.get("werkzeug.socket")
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return []
    status, code = ("500 Internal Server Error", "InternalFailure") if kind == "500" else ("503 Service Unavailable", "ServiceUnavailable")
    message = f"injected by the fixture ({kind})"
    if target:
        body = json.dumps({"__type": code, "message": message}).encode()
        content_type = "application/x-amz-json-1.1"
    elif service == "s3":
        body = f"<Error><Code>{'InternalError' if kind == '500' else 'ServiceUnavailable'}</Code><Message>{message}</Message></Error>".encode()
        content_type = "application/xml"
    else:
        body = error_xml("https://iam.amazonaws.com/doc/2010-05-08/", code, message)
        content_type = "text/xml"
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def assume_role_refusal(form: dict) -> str | None:
    """Why AWS would refuse this AssumeRole, or None."""
    role_arn = form.get("RoleArn", "")
    match = re.match(r"arn:aws[\w-]*:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)$", role_arn)
    if not match:
        return f"invalid role ARN {role_arn}"
    account, name = match.groups()
    try:
        role = iam_backends[account]["aws"].get_role(name)
    except Exception:  # moto raises its own NotFound type
        return f"is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    required = re.search(r'"sts:ExternalId"\s*:\s*"([^"]+)"', role.assume_role_policy_document or "")
    if required and form.get("ExternalId") != required.group(1):
        return f"is not authorized to perform: sts:AssumeRole on resource: {role_arn} (ExternalId)"
    return None


class Layer:
    """The WSGI layer in front of moto."""

    def __init__(self, app, fixture: Fixture) -> None:
        self.app = app
        self.fixture = fixture

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_fixture/"):
            return self.control(path, environ, start_response)
        if path.startswith("/moto-api/"):
            # The harness reading moto's state: not an AWS request, never slowed or faulted.
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)

        auth = environ.get("HTTP_AUTHORIZATION", "")
        credential = re.search(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/", auth)
        access_key, service = credential.groups() if credential else ("", "unknown")
        scope = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/", auth)
        region = scope.group(1) if scope else "us-east-1"
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        form = {}
        if service == "securityhub":
            action = SECURITYHUB_ACTIONS.get((environ.get("REQUEST_METHOD"), path), "?")
        elif target:
            action = target.rsplit(".", 1)[-1]
        elif service == "s3":
            action = s3_action(environ)
        else:
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            action = form.get("Action") or (query.get("Action") or ["?"])[0]

        account = self.fixture.account_of(access_key) if access_key else MANAGEMENT
        if service == "sts" and action == "AssumeRole":
            target_account = re.search(r":iam::(\d{12}):", form.get("RoleArn", ""))
            account = target_account.group(1) if target_account else account
        self.fixture.record(account, service, action)

        if self.fixture.latency:
            time.sleep(self.fixture.latency)
        with self.fixture.lock:
            slow = self.fixture.slow.get((service, action), 0.0)
        if slow:
            time.sleep(slow)
        fault = self.fixture.fault(action, service, "before")
        if fault == "slow":
            # Past the client's attempt timeout; then the request is acted on, as AWS would.
            time.sleep(self.fixture.slow_seconds)
        elif fault:
            return fault_answer(fault, service, target, environ, start_response)
        policy = self.fixture.enforced.get(access_key)
        if policy is not None:
            request = judged(service, action, environ, form, account, region)
            if request is not None and policy.decide(*request) != "allow":
                return access_denied(start_response, service, request[0], head=environ.get("REQUEST_METHOD") == "HEAD")
        if (account, action) in self.fixture.denied:
            return access_denied(start_response, service, f"{service}:{action}", head=environ.get("REQUEST_METHOD") == "HEAD")
        if service == "iam" and action in IAM_CHANGES:
            after = self.fixture.fault(action, service, "after")
            if after:
                # The emulator acts, then the answer is lost: a retry would make the change again.
                status, headers, body = call(self.app, environ)
                if after == "slow":
                    time.sleep(self.fixture.slow_seconds)
                    start_response(status, headers)
                    return [body]
                return fault_answer(after, service, target, environ, start_response)
        if service == "iam" and action == "GetAccessKeyLastUsed" and self.fixture.reads_to_touch(form.get("AccessKeyId")):
            key_id = form["AccessKeyId"]
            for user in iam_backends[account]["aws"].users.values():
                for key in user.access_keys:
                    if key.access_key_id == key_id:
                        now = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
                        key.last_used = AccessKeyLastUsed(now, "s3", "us-east-1")
        if service == "iam" and self.fixture.throttled():
            body = error_xml("https://iam.amazonaws.com/doc/2010-05-08/", "Throttling", "Rate exceeded")
            start_response("400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
            return [body]
        if service == "sts" and action == "AssumeRole":
            refusal = assume_role_refusal(form)
            if refusal:
                body = error_xml("https://sts.amazonaws.com/doc/2011-06-15/", "AccessDenied", refusal)
                start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
                return [body]
        if service == "iam" and action in SERVICE_CREDENTIAL_ACTIONS:
            users = set(iam_backends[account]["aws"].users)
            return self.fixture.service_credentials.answer(account, action, form, users, start_response)
        if service == "iam" and action in ("GenerateCredentialReport", "GetCredentialReport"):
            return credential_report(self.fixture, account, action, start_response)
        if service == "iam" and action == "GetLoginProfile":
            answer = login_profile(account, form.get("UserName", ""), start_response)
            if answer is not None:
                return answer
        if service == "securityhub" and action == "BatchImportFindings":
            return self.import_findings(environ, body, account, region, start_response)
        if service == "securityhub" and action == "GetFindings":
            return get_findings(body, account, region, start_response)
        policy = self.fixture.enforced.get(access_key)
        if service == "s3" and action in ("GetObject", "HeadObject") and policy is not None:
            # AWS answers a missing object 403, not 404, to a caller that may not list the bucket.
            status, headers, answered = call(self.app, environ)
            bucket = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0]
            if status.startswith("404") and not policy.lists_bucket(bucket):
                return access_denied(start_response, "s3", f"s3:{action}", head=action == "HeadObject")
            start_response(status, headers)
            return [answered]
        if service == "iam" and action in ("CreateLoginProfile", "UpdateLoginProfile"):
            status, headers, answered = call(self.app, environ)
            if status.startswith("200") and (action == "CreateLoginProfile" or form.get("Password")):
                password_set(account, form.get("UserName", ""))
            start_response(status, headers)
            return [answered]
        return self.app(environ, start_response)

    def import_findings(self, environ, body, account, region, start_response):
        """BatchImportFindings as AWS checks it: the request against botocore's model, then each
        finding's account and product; moto imports the findings that pass."""
        try:
            request = json.loads(body or b"{}")
        except ValueError as error:
            return json_answer(start_response, "400 Bad Request", {"__type": "InvalidInputException", "message": f"not JSON: {error}"})
        problems = model_problems("BatchImportFindings", request)
        if problems:
            return json_answer(start_response, "400 Bad Request", {"__type": "InvalidInputException", "message": "; ".join(problems[:20])})
        product = f"arn:aws:securityhub:{region}:{account}:product/{account}/default"
        accepted, refused = [], []
        for finding in request["Findings"]:
            if finding.get("AwsAccountId") != account:
                refused.append({"Id": finding.get("Id", ""), "ErrorCode": "AccessDeniedException",
                                "ErrorMessage": f"AwsAccountId {finding.get('AwsAccountId')} is not the calling account {account}"})
            elif finding.get("ProductArn") != product:
                refused.append({"Id": finding.get("Id", ""), "ErrorCode": "AccessDeniedException",
                                "ErrorMessage": f"ProductArn {finding.get('ProductArn')} is not {product}"})
            else:
                accepted.append(finding)
        answer = {"FailedCount": 0, "SuccessCount": 0, "FailedFindings": []}
        if accepted:
            forwarded = json.dumps({"Findings": accepted}).encode()
            environ["wsgi.input"] = io.BytesIO(forwarded)
            environ["CONTENT_LENGTH"] = str(len(forwarded))
            status, _, answered = call(self.app, environ)
            if not status.startswith("200"):
                return json_answer(start_response, status, json.loads(answered or b"{}"))
            answer = json.loads(answered)
        answer["FailedFindings"] = answer.get("FailedFindings", []) + refused
        answer["FailedCount"] = answer.get("FailedCount", 0) + len(refused)
        return json_answer(start_response, "200 OK", answer)

    def control(self, path, environ, start_response):
        if path == "/_fixture/stats":
            payload = self.fixture.stats()
        elif path == "/_fixture/config":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            settings = json.loads(environ["wsgi.input"].read(length) or b"{}")
            with self.fixture.lock:
                self.fixture.latency = float(settings.get("latency_ms", 0)) / 1000.0
                self.fixture.throttle_rate = float(settings.get("throttle_rate", 0))
                self.fixture.report_delay = timedelta(milliseconds=float(settings.get("report_ready_after_ms", 0)))
                self.fixture.denied = {tuple(pair) for pair in settings.get("deny", [])}
                reads = settings.get("touch_on_read", {})
                self.fixture.touch_on_read = dict(reads) if isinstance(reads, dict) else {key: 0 for key in reads}
                self.fixture.slow = {(service, action): ms / 1000.0 for service, action, ms in settings.get("slow", [])}
                faults = settings.get("faults", {})
                self.fixture.fault_rate = float(faults.get("rate", 0))
                self.fixture.fault_kinds = [kind for kind in faults.get("kinds", FAULT_KINDS) if kind in FAULT_KINDS]
                self.fixture.after_rate = float(faults.get("after_rate", 0))
                self.fixture.slow_seconds = float(faults.get("slow_ms", 3000)) / 1000.0
                if "seed" in faults:
                    self.fixture.rng = random.Random(faults["seed"])
                self.fixture.before = {action: list(kinds) for action, kinds in settings.get("before", {}).items()}
                self.fixture.after = {action: list(kinds) for action, kinds in settings.get("after", {}).items()}
            payload = {"ok": True}
        elif path == "/_fixture/touch":
            payload = touch(read_json(environ))
        elif path == "/_fixture/change":
            payload = change(read_json(environ))
        elif path == "/_fixture/delete-user":
            request = read_json(environ)
            iam_backends[request["account"]]["aws"].users.pop(request["user"])
            payload = {"ok": True}
        elif path == "/_fixture/reset-password":
            request = read_json(environ)
            user = iam_backends[request["account"]]["aws"].users[request["user"]]
            user.password_reset_required = bool(request.get("required", False))
            password_set(request["account"], request["user"])
            payload = {"ok": True}
        elif path == "/_fixture/reports":
            payload = reports(self.fixture, read_json(environ))
        elif path == "/_fixture/deployed-role":
            payload = deployed_role(self.fixture, read_json(environ))
        elif path == "/_fixture/leave-organization":
            from moto.organizations.models import organizations_backends

            request = read_json(environ)
            organizations_backends[MANAGEMENT]["aws"].remove_account_from_organization(AccountId=request["account"])
            payload = {"ok": True}
        elif path == "/_fixture/iam-state":
            payload = iam_state(self.fixture)
        elif path == "/_fixture/s3-objects":
            payload = s3_objects()
        elif path == "/_fixture/s3-put":
            request = read_json(environ)
            from moto.s3.models import s3_backends

            s3_backends[MANAGEMENT]["aws"].put_object(REPORT_BUCKET, request["key"], request["body"].encode())
            payload = {"ok": True}
        elif path == "/_fixture/securityhub-findings":
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            account = query.get("account", [MANAGEMENT])[0]
            region = query.get("region", ["us-east-1"])[0]
            backend = securityhub_backends[account][region]
            findings, token = backend.get_findings(max_results=100)
            while token:
                page, token = backend.get_findings(max_results=100, next_token=token)
                findings += page
            payload = {"findings": findings}
        elif path == "/_fixture/reset":
            with self.fixture.lock:
                self.fixture.counts.clear()
                self.fixture.injected.clear()
            payload = {"ok": True}
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"unknown fixture path"]
        body = json.dumps(payload).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


# The Security Hub operations the fixture checks, by method and path (a REST JSON API).
SECURITYHUB_ACTIONS = {("POST", "/findings/import"): "BatchImportFindings", ("POST", "/findings"): "GetFindings"}


def string_filters_match(value, filters: list) -> bool:
    """Security Hub's StringFilter list on one field: the positive comparisons OR'ed, the negative
    ones AND'ed."""
    value = "" if value is None else str(value)
    positive = [f for f in filters if f.get("Comparison") in ("EQUALS", "PREFIX", "CONTAINS")]
    negative = [f for f in filters if f not in positive]
    test = {
        "EQUALS": lambda v, x: v == x,
        "PREFIX": lambda v, x: v.startswith(x),
        "CONTAINS": lambda v, x: x in v,
        "NOT_EQUALS": lambda v, x: v != x,
        "PREFIX_NOT_EQUALS": lambda v, x: not v.startswith(x),
        "NOT_CONTAINS": lambda v, x: x not in v,
    }
    if positive and not any(test[f["Comparison"]](value, f.get("Value", "")) for f in positive):
        return False
    return all(test.get(f.get("Comparison"), lambda v, x: True)(value, f.get("Value", "")) for f in negative)


def get_findings(body: bytes, account: str, region: str, start_response):
    """GetFindings as AWS answers it (moto ignores Filters): the request checked against the
    model, the string filters on top-level fields applied, pages of MaxResults with a NextToken."""
    try:
        request = json.loads(body or b"{}")
    except ValueError as error:
        return json_answer(start_response, "400 Bad Request", {"__type": "InvalidInputException", "message": f"not JSON: {error}"})
    problems = model_problems("GetFindings", request)
    if problems:
        return json_answer(start_response, "400 Bad Request", {"__type": "InvalidInputException", "message": "; ".join(problems[:20])})
    findings = [finding.as_dict() for finding in securityhub_backends[account][region].findings]
    for field, filters in (request.get("Filters") or {}).items():
        if isinstance(filters, list) and all(isinstance(f, dict) and "Comparison" in f for f in filters):
            findings = [finding for finding in findings if string_filters_match(finding.get(field), filters)]
    start = int(request.get("NextToken") or 0)
    size = int(request.get("MaxResults") or 100)
    answer = {"Findings": findings[start:start + size]}
    if start + size < len(findings):
        answer["NextToken"] = str(start + size)
    return json_answer(start_response, "200 OK", answer)


def json_answer(start_response, status: str, payload: dict):
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


_models: dict = {}


def model_problems(operation: str, request: dict) -> list[str]:
    """What is wrong with `request` for `operation` of Security Hub's model as botocore ships it:
    botocore's own validator (types, required and unknown members, minimums), then what it leaves
    to the service (enums, maximum lengths and sizes, patterns)."""
    if "securityhub" not in _models:
        _models["securityhub"] = botocore_session().get_service_model("securityhub")
    shape = _models["securityhub"].operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    return problems + limits(request, shape, operation)


def limits(value, shape, where: str) -> list[str]:
    meta = shape.metadata
    kind = shape.type_name
    problems = []
    if kind == "structure" and isinstance(value, dict):
        for name, member in value.items():
            if name in shape.members:
                problems += limits(member, shape.members[name], f"{where}.{name}")
    elif kind == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} items, more than {meta['max']}")
        for index, item in enumerate(value):
            problems += limits(item, shape.member, f"{where}[{index}]")
    elif kind == "map" and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} entries, more than {meta['max']}")
        for key, item in value.items():
            problems += limits(key, shape.key, f"{where} key {key!r}")
            problems += limits(item, shape.value, f"{where}[{key!r}]")
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {value!r} is not one of {shape.enum}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} characters, more than {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value, re.DOTALL):
            problems.append(f"{where}: {value!r} does not match {meta['pattern']}")
    return problems


def call(app, environ) -> tuple[str, list, bytes]:
    """Calls a WSGI app and collects its whole answer."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def read_json(environ) -> dict:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length) or b"{}")


IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
REPORT_REUSED_FOR = timedelta(hours=4)
REPORT_COLUMNS = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)


def iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00") if value else "N/A"


def query_answer(start_response, action: str, result: str, status: str = "200 OK"):
    body = (
        f'<{action}Response xmlns="{IAM_NS}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>fixture-{time.time_ns()}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def report_csv(account: str) -> str:
    """The account's credential report as AWS writes it (moto's differs: no root row,
    `not_supported` for a missing password's last use, the user's creation for
    `password_last_changed`, no region or service of a key's last use)."""
    backend = iam_backends[account]["aws"]
    lines = [
        REPORT_COLUMNS,
        f"<root_account>,arn:aws:iam::{account}:root,2020-01-01T00:00:00+00:00,not_supported,no_information,"
        "not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    ]
    for user in list(backend.users.values()):
        if user.password:
            password = [
                "true",
                iso(user.password_last_used) if user.password_last_used else "no_information",
                iso(getattr(user, "fixture_password_changed", user.create_date)),
                "N/A",
            ]
        else:
            password = ["false", "N/A", "N/A", "N/A"]
        keys = []
        for slot in range(2):
            key = user.access_keys[slot] if slot < len(user.access_keys) else None
            if key is None:
                keys += ["false", "N/A", "N/A", "N/A", "N/A"]
                continue
            used = key.last_used
            keys += [
                "true" if key.status == "Active" else "false",
                iso(key.create_date),
                iso(used.timestamp) if used else "N/A",
                used.region if used else "N/A",
                used.service if used else "N/A",
            ]
        certificates = list(user.signing_certificates.values())
        certs = []
        for slot in range(2):
            certificate = certificates[slot] if slot < len(certificates) else None
            certs += [
                "true" if certificate is not None and certificate.status == "Active" else "false",
                iso(certificate.upload_date) if certificate is not None else "N/A",
            ]
        mfa = "true" if user.mfa_devices else "false"
        lines.append(",".join([user.name, user.arn, iso(user.create_date), *password, mfa, *keys, *certs]))
    return "\n".join(lines) + "\n"


def credential_report(fixture: Fixture, account: str, action: str, start_response):
    """GenerateCredentialReport and GetCredentialReport as AWS answers them: a report generated
    in the last four hours is handed back as it was then (its content and its GeneratedTime);
    otherwise a new one is generated now (STARTED; INPROGRESS and 404 ReportInProgress until it
    is ready, `report_ready_after_ms` later; then COMPLETE)."""
    now = utcnow()
    with fixture.lock:
        report = fixture.reports.get(account)
        delay = fixture.report_delay
    fresh = report is not None and now - report["generated"] < REPORT_REUSED_FOR
    in_progress = fresh and now < report["generated"] + report.get("takes", timedelta(0))
    if action == "GenerateCredentialReport":
        if fresh:
            state = "INPROGRESS" if in_progress else "COMPLETE"
            return query_answer(start_response, action, f"<State>{state}</State>")
        with fixture.lock:
            fixture.reports[account] = {"generated": now, "content": report_csv(account), "takes": delay}
        return query_answer(
            start_response, action,
            "<State>STARTED</State><Description>No report exists. Starting a new report generation task</Description>",
        )
    if in_progress:
        body = error_xml(IAM_NS, "ReportInProgress", "Report generation in progress")
        start_response("404 Not Found", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]
    if report is None or not fresh:
        code, message = ("ReportNotPresent", "Credential report not present") if report is None else (
            "ReportExpired", "The credential report has expired. Generate a new one.")
        body = error_xml(IAM_NS, code, message)
        start_response("410 Gone", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]
    content = base64.b64encode(report["content"].encode()).decode()
    generated = report["generated"].strftime("%Y-%m-%dT%H:%M:%SZ")
    return query_answer(
        start_response, action,
        f"<Content>{content}</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>{generated}</GeneratedTime>",
    )


def reports(fixture: Fixture, request: dict) -> dict:
    """Moves the credential reports on in time: `expire` forgets them (as four hours later: the
    next run generates new ones), `age_seconds` makes them that much older (a run that reuses
    an earlier report)."""
    with fixture.lock:
        if request.get("expire"):
            fixture.reports.clear()
        for report in fixture.reports.values():
            report["generated"] -= timedelta(seconds=float(request.get("age_seconds", 0)))
        return {account: report["generated"].isoformat() for account, report in fixture.reports.items()}


def password_set(account: str, user_name: str) -> None:
    """Records that the user's password was set now: its login profile's CreateDate moves only
    when the profile is created, its `password_last_changed` on every reset."""
    user = iam_backends[account]["aws"].users.get(user_name)
    if user is None:
        return
    now = utcnow()
    if not hasattr(user, "fixture_password_created") or not user.password:
        user.fixture_password_created = now
    user.fixture_password_changed = now


def login_profile(account: str, user_name: str, start_response):
    """GetLoginProfile as AWS answers it: CreateDate is when the password was first set, which
    a reset does not move. None lets moto answer (no such user, no password)."""
    user = iam_backends[account]["aws"].users.get(user_name)
    if user is None or not user.password:
        return None
    created = getattr(user, "fixture_password_created", user.create_date)
    return query_answer(
        start_response, "GetLoginProfile",
        f"<LoginProfile><UserName>{user.name}</UserName><CreateDate>{created.strftime('%Y-%m-%dT%H:%M:%SZ')}</CreateDate>"
        f"<PasswordResetRequired>{'true' if user.password_reset_required else 'false'}</PasswordResetRequired></LoginProfile>",
    )


def access_denied(start_response, service: str, action: str, head: bool = False):
    """AccessDenied in the service's own shape."""
    message = f"not authorized to perform: {action}"
    if service == "s3":
        body = b"" if head else b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]
    if service in ("securityhub", "organizations"):
        body = json.dumps({"__type": "AccessDeniedException", "Message": message}).encode()
        status = "403 Forbidden" if service == "securityhub" else "400 Bad Request"
        start_response(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException"),
                                ("Content-Length", str(len(body)))])
        return [body]
    code = "AuthorizationError" if service == "sns" else "AccessDenied"
    body = error_xml(IAM_NS, code, message)
    start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def deployed_role(fixture: Fixture, request: dict) -> dict:
    """Creates the scanner's execution role in the management account with the policy that
    deploy/scanner.yaml gives it for the stack `parameters`, and answers its credentials: every
    request made with them is judged against that policy."""
    names = {"account": MANAGEMENT, "region": "us-east-1", "bucket": REPORT_BUCKET,
             "topic_arn": request["topic_arn"]}
    template = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "scanner.yaml")
    document = render(template, request.get("parameters", {}), names)
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    iam = session.client("iam", endpoint_url=fixture.endpoint)
    with fixture.lock:
        name = f"stalecreds-scanner-{len(fixture.enforced) + 1}"
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}, "Action": "sts:AssumeRole"},
    ]}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="stalecreds-scanner", PolicyDocument=json.dumps(document))
    credentials = session.client("sts", endpoint_url=fixture.endpoint).assume_role(
        RoleArn=f"arn:aws:iam::{MANAGEMENT}:role/{name}", RoleSessionName="stalecreds", DurationSeconds=3600
    )["Credentials"]
    with fixture.lock:
        fixture.enforced[credentials["AccessKeyId"]] = Policy(document)
        fixture.counts.clear()
    return {
        "access_key_id": credentials["AccessKeyId"],
        "secret_access_key": credentials["SecretAccessKey"],
        "session_token": credentials["SessionToken"],
        "policy": document,
    }


def touch(request: dict) -> dict:
    """Marks a credential used now, as a person would by using it: a key (`key_id`) or a user's
    password (`user`), in `account`."""
    backend = iam_backends[request["account"]]["aws"]
    now = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
    user = backend.users[request["user"]]
    if request.get("key_id"):
        for key in user.access_keys:
            if key.access_key_id == request["key_id"]:
                key.last_used = AccessKeyLastUsed(now, "s3", "us-east-1")
    else:
        user.password_last_used = now
    return {"ok": True}


def change(request: dict) -> dict:
    """Changes a credential as an administrator would, behind stalecreds' back: `action` is
    `deactivate`, `activate` or `delete` for the key `key_id`, or `delete` for the user's
    password when there is no `key_id`."""
    backend = iam_backends[request["account"]]["aws"]
    user = backend.users[request["user"]]
    action, key_id = request["action"], request.get("key_id")
    if key_id is None and action == "delete":
        user.password = None
        return {"ok": True}
    for key in list(user.access_keys):
        if key.access_key_id != key_id:
            continue
        if action == "delete":
            user.access_keys.remove(key)
        elif action in ("deactivate", "activate"):
            key.status = "Inactive" if action == "deactivate" else "Active"
        else:
            raise ValueError(f"unknown change {action!r}")
        return {"ok": True}
    raise KeyError(f"no key {key_id} for {request['user']}")


def iam_state(fixture: Fixture) -> dict:
    """Every account's users, with their keys, SSH keys, signing certificates and
    service-specific credentials (ID and status), and whether a password exists."""
    services = fixture.service_credentials.state()
    state = {}
    for account_id, partitions in list(iam_backends.items()):
        backend = partitions["aws"]
        users = {
            name: {
                "password": bool(user.password),
                "keys": sorted([key.access_key_id, key.status] for key in user.access_keys),
                "ssh": sorted([key.ssh_public_key_id, key.status] for key in user.ssh_public_keys),
                "certs": sorted([cert.id, cert.status] for cert in user.signing_certificates.values()),
            }
            for name, user in sorted(backend.users.items())
        }
        for user_name, credential_id, status in services.get(account_id, []):
            if user_name in users:
                users[user_name].setdefault("services", []).append([credential_id, status])
        if users:
            state[account_id] = users
    return state


def s3_objects() -> dict:
    """Every object of the report bucket: key -> text."""
    from moto.s3.models import s3_backends

    bucket = s3_backends[MANAGEMENT]["aws"].buckets.get(REPORT_BUCKET)
    if bucket is None:
        return {}
    return {key: obj.value.decode("utf-8", "replace") for key, obj in bucket.keys.items()}


def ago(seconds: float, now: datetime) -> datetime:
    """A naive UTC datetime (as moto keeps them), whole seconds."""
    return (now - timedelta(seconds=seconds)).replace(microsecond=0, tzinfo=None)


def certificate_pem(name: str) -> str:
    """A self-signed X.509 certificate (moto checks that a signing certificate is one)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def seed_others(iam, account_id: str, spec: dict, now: datetime, credentials: ServiceCredentials) -> None:
    """A user's SSH keys, signing certificates and service-specific credentials, with the dates
    AWS would have recorded."""
    name = spec["name"]
    for index, _ in enumerate(spec.get("ssh", [])):
        iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=f"ssh-ed25519 AAAAC3NzaFixture{index}{name} {name}")
    for _ in spec.get("certs", []):
        iam.upload_signing_certificate(UserName=name, CertificateBody=certificate_pem(name))
    moto_user = iam_backends[account_id]["aws"].users[name]
    for key, (status, uploaded_ago) in zip(moto_user.ssh_public_keys, spec.get("ssh", [])):
        key.status, key.upload_date = status, ago(uploaded_ago, now)
    for cert, (status, uploaded_ago) in zip(moto_user.signing_certificates.values(), spec.get("certs", [])):
        cert.status, cert.upload_date = status, ago(uploaded_ago, now)
    for service, status, created_ago, expires_in in spec.get("services", []):
        expires = None if expires_in is None else ago(-expires_in, now)
        credentials.add(account_id, name, service, ago(created_ago, now), expires, status)


def seed(endpoint: str, scenario: dict, external_id: str | None, credentials: ServiceCredentials) -> dict:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    org = session.client("organizations", endpoint_url=endpoint)
    sts = session.client("sts", endpoint_url=endpoint)
    org.create_organization(FeatureSet="ALL")
    root_id = org.list_roots()["Roots"][0]["Id"]
    sns = session.client("sns", endpoint_url=endpoint)
    topic_arn = sns.create_topic(Name="stalecreds-digest")["TopicArn"]
    session.client("s3", endpoint_url=endpoint).create_bucket(Bucket=REPORT_BUCKET)

    # Organizational units, nested: each member names its OU path ("workloads/production").
    ous: dict[str, str] = {}

    def ou_for(path: str) -> str:
        parent = root_id
        for name in path.split("/"):
            if name not in ous:
                ous[name] = org.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]
            parent = ous[name]
        return parent

    accounts = {"management": MANAGEMENT}
    plan = [("management", MANAGEMENT, True, False, scenario["management"])]
    for member in scenario["members"]:
        created = org.create_account(Email=f"{member['name']}@example.com", AccountName=member["name"])
        account_id = created["CreateAccountStatus"]["AccountId"]
        accounts[member["name"]] = account_id
        if member.get("ou"):
            org.move_account(AccountId=account_id, SourceParentId=root_id, DestinationParentId=ou_for(member["ou"]))
        plan.append((member["name"], account_id, member["audit_role"], member.get("closed", False), member["users"]))

    now = datetime.now(timezone.utc)
    key_ids: dict[str, list[str]] = {}
    for name, account_id, audit_role, closed, users in plan:
        if account_id == MANAGEMENT:
            iam = session.client("iam", endpoint_url=endpoint)
        else:
            creds = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="seed"
            )["Credentials"]
            iam = boto3.client(
                "iam",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            if audit_role:
                statement = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}, "Action": "sts:AssumeRole"}
                if external_id:
                    statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
                trust = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
                for role, policy_name, actions in [
                    (AUDIT_ROLE, "stalecreds-read-only", AUDIT_ACTIONS),
                    (REMEDIATION_ROLE, "stalecreds-remediation", REMEDIATION_ACTIONS),
                ]:
                    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
                    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
                    iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(policy))
        for spec in users:
            iam.create_user(
                UserName=spec["name"], Tags=[{"Key": k, "Value": v} for k, v in spec["tags"].items()]
            )
            if spec["password"]:
                iam.create_login_profile(UserName=spec["name"], Password="Demo-Password-1!")
            for _ in spec["keys"]:
                created_key = iam.create_access_key(UserName=spec["name"])["AccessKey"]
                key_ids.setdefault(f"{name}/{spec['name']}", []).append(created_key["AccessKeyId"])
            seed_others(iam, account_id, spec, now, credentials)
        # Dates, as AWS would have recorded them.
        backend = iam_backends[account_id]["aws"]
        for spec in users:
            moto_user = backend.users[spec["name"]]
            if spec["password"]:
                set_ago, used_ago = spec["password"]
                moto_user.create_date = ago(set_ago, now)
                # The login profile's CreateDate and the report's password_last_changed.
                moto_user.fixture_password_created = moto_user.fixture_password_changed = ago(set_ago, now)
                moto_user.password_last_used = None if used_ago is None else ago(used_ago, now)
            if spec["password_last_used"] is not None:
                moto_user.password_last_used = ago(spec["password_last_used"], now)
            for key, (status, created_ago, used_ago) in zip(moto_user.access_keys, spec["keys"]):
                key.status = status
                key.create_date = ago(created_ago, now)
                key.last_used = None if used_ago is None else AccessKeyLastUsed(ago(used_ago, now), "s3", "us-east-1")
        if closed:
            org.close_account(AccountId=account_id)
    return {
        "accounts": accounts,
        "root_id": root_id,
        "ous": ous,
        "topic_arn": topic_arn,
        "report_bucket": REPORT_BUCKET,
        "keys": key_ids,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["demo", "kinds", "bench", "empty"], default="demo")
    parser.add_argument("--accounts", type=int, default=50, help="bench: member accounts")
    parser.add_argument("--users", type=int, default=20, help="bench: users per account")
    parser.add_argument("--external-id", help="audit roles require this ExternalId")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=1800, help="stop by itself after this long")
    parser.add_argument("--ready-file", help="also write the ready line to this file")
    args = parser.parse_args()

    mock_random.seed(20261128)
    fixture = Fixture()
    app = Layer(DomainDispatcherApplication(create_backend_app), fixture)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    fixture.endpoint = endpoint

    scenario = {
        "demo": DEMO,
        "kinds": KINDS,
        "bench": bench_scenario(args.accounts, args.users),
        "empty": {"management": [], "members": []},
    }[args.scenario]
    seeded = seed(endpoint, scenario, args.external_id, fixture.service_credentials)
    with fixture.lock:
        fixture.counts.clear()
    ready = json.dumps({"endpoint": endpoint, **seeded})
    if args.ready_file:
        with open(args.ready_file, "w", encoding="utf-8") as out:
            out.write(ready + "\n")
    print(ready, flush=True)

    # Stop when the parent closes our standard input, or at the deadline.
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(timeout=args.max_seconds)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
