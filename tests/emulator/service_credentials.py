"""IAM's service-specific credentials, which moto 5.2.5 does not implement, answered as IAM does.

ListServiceSpecificCredentials (a user's, or every user's with `AllUsers`, paged with `Marker`
and `MaxItems`, filtered by `ServiceName`) and UpdateServiceSpecificCredential. Each request is
checked against the operation's input shape in botocore's iam model (types, required members,
lengths, enums, patterns) plus the rules the model's documentation states (`AllUsers` cannot be
given with `UserName`); each answer is built as the output shape's members and checked against it
(required members, enums, patterns) before it is written as IAM's XML.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from xml.sax.saxutils import escape

from botocore.session import get_session as botocore_session
from botocore.validate import ParamValidator

IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
ACTIONS = ("ListServiceSpecificCredentials", "UpdateServiceSpecificCredential")
# Services whose credentials are API keys (an alias, an optional expiry); the others have a
# generated user name.
API_KEY_SERVICES = ("bedrock.amazonaws.com", "logs.amazonaws.com")

_model: list = []


def model():
    if not _model:
        _model.append(botocore_session().get_service_model("iam"))
    return _model[0]


class ServiceCredentials:
    """The credentials of every account, by account: a list of dicts in the output shape's
    member names (dates as datetimes)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_account: dict[str, list[dict]] = {}
        self.counter = 0

    def add(self, account: str, user: str, service: str, created: datetime,
            expires: datetime | None = None, status: str = "Active") -> str:
        with self.lock:
            self.counter += 1
            credential_id = f"ACCA{self.counter:017d}"[:21]
            credential = {
                "UserName": user,
                "Status": status,
                "CreateDate": created,
                "ServiceSpecificCredentialId": credential_id,
                "ServiceName": service,
            }
            if service in API_KEY_SERVICES:
                credential["ServiceCredentialAlias"] = f"{user}+1-at-{self.counter:012d}"
                if expires is not None:
                    credential["ExpirationDate"] = expires
            else:
                credential["ServiceUserName"] = f"{user}-at-{self.counter:012d}"
            self.by_account.setdefault(account, []).append(credential)
            return credential_id

    def state(self) -> dict:
        with self.lock:
            return {
                account: sorted([c["UserName"], c["ServiceSpecificCredentialId"], c["Status"]] for c in found)
                for account, found in self.by_account.items()
            }

    def answer(self, account: str, action: str, form: dict, users: set[str], start_response):
        """The answer to `action` in `account` (whose IAM users are `users`)."""
        request = typed(action, form)
        problems = request_problems(action, request)
        if problems:
            return error(start_response, "400 Bad Request", "ValidationError", "; ".join(problems))
        user = request.get("UserName")
        if user is not None and user not in users:
            return error(start_response, "404 Not Found", "NoSuchEntity",
                         f"The user with name {user} cannot be found.")
        if action == "UpdateServiceSpecificCredential":
            return self.update(account, request, start_response)
        return self.list(account, request, start_response)

    def update(self, account: str, request: dict, start_response):
        with self.lock:
            for credential in self.by_account.get(account, []):
                if (credential["UserName"] == request["UserName"]
                        and credential["ServiceSpecificCredentialId"] == request["ServiceSpecificCredentialId"]):
                    credential["Status"] = request["Status"]
                    return xml_answer(start_response, "UpdateServiceSpecificCredential", "")
        return error(start_response, "404 Not Found", "NoSuchEntity",
                     f"No such credential: {request['ServiceSpecificCredentialId']}")

    def list(self, account: str, request: dict, start_response):
        with self.lock:
            found = [
                dict(credential) for credential in self.by_account.get(account, [])
                if (request.get("AllUsers") or credential["UserName"] == request.get("UserName"))
                and credential["ServiceName"] == request.get("ServiceName", credential["ServiceName"])
            ]
        start = int(request.get("Marker") or 0)
        size = request.get("MaxItems", 100)
        page = found[start:start + size]
        answer = {"ServiceSpecificCredentials": page, "IsTruncated": start + size < len(found)}
        if answer["IsTruncated"]:
            answer["Marker"] = str(start + size)
        problems = answer_problems("ListServiceSpecificCredentials", answer)
        if problems:
            raise AssertionError(f"the fixture's answer does not fit the model: {problems}")
        members = "".join(f"<member>{fields(credential)}</member>" for credential in page)
        result = f"<ServiceSpecificCredentials>{members}</ServiceSpecificCredentials>"
        result += f"<IsTruncated>{'true' if answer['IsTruncated'] else 'false'}</IsTruncated>"
        if "Marker" in answer:
            result += f"<Marker>{answer['Marker']}</Marker>"
        return xml_answer(start_response, "ListServiceSpecificCredentials", result)


def typed(action: str, form: dict) -> dict:
    """The query's parameters with the types of the input shape's members."""
    shape = model().operation_model(action).input_shape
    request = {}
    for name, value in form.items():
        if name in ("Action", "Version"):
            continue
        member = shape.members.get(name)
        if member is None:
            request[name] = value
        elif member.type_name == "boolean":
            request[name] = value.lower() == "true"
        elif member.type_name == "integer":
            request[name] = int(value)
        else:
            request[name] = value
    return request


def request_problems(action: str, request: dict) -> list[str]:
    """botocore's validator, the shape's enums, lengths and patterns, and the rules its
    documentation states."""
    shape = model().operation_model(action).input_shape
    report = ParamValidator().validate(request, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    problems += shape_limits(request, shape, action)
    if request.get("AllUsers") and "UserName" in request:
        problems.append("AllUsers cannot be specified together with UserName")
    return problems


def answer_problems(action: str, answer: dict) -> list[str]:
    """The answer against the operation's output shape: required members, enums, patterns."""
    return required_and_limits(answer, model().operation_model(action).output_shape, action)


def required_and_limits(value, shape, where: str) -> list[str]:
    problems = []
    if shape.type_name == "structure":
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{where}: no {name}")
        for name, member in value.items():
            if name not in shape.members:
                problems.append(f"{where}: {name} is not in the model")
            else:
                problems += required_and_limits(member, shape.members[name], f"{where}.{name}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            problems += required_and_limits(item, shape.member, f"{where}[{index}]")
    else:
        problems += shape_limits(value, shape, where)
    return problems


def shape_limits(value, shape, where: str) -> list[str]:
    import re
    problems = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in value.items():
            if name in shape.members:
                problems += shape_limits(member, shape.members[name], f"{where}.{name}")
    elif shape.type_name == "string" and isinstance(value, str):
        meta = shape.metadata
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {value!r} is not one of {shape.enum}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: longer than {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value, re.DOTALL):
            problems.append(f"{where}: {value!r} does not match {meta['pattern']}")
    elif shape.type_name == "integer" and isinstance(value, int):
        meta = shape.metadata
        if "max" in meta and value > meta["max"]:
            problems.append(f"{where}: more than {meta['max']}")
    return problems


def fields(credential: dict) -> str:
    out = []
    for name, value in credential.items():
        text = value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else str(value)
        out.append(f"<{name}>{escape(text)}</{name}>")
    return "".join(out)


def xml_answer(start_response, action: str, result: str):
    body = (
        f'<{action}Response xmlns="{IAM_NS}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>fixture-{time.time_ns()}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def error(start_response, status: str, code: str, message: str):
    body = (
        f'<ErrorResponse xmlns="{IAM_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>fixture</RequestId></ErrorResponse>"
    ).encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]
