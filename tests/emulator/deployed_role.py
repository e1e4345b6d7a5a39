"""The scanner's deployed execution role, as AWS would judge the requests made with it.

moto can enforce IAM policies itself (`INITIAL_NO_AUTH_ACTION_COUNT`), but it checks most services
against the resource `*` and turns every conditional Allow into a Deny (moto 5.2.5,
`moto/iam/access_control.py`), so the template's scoped statements would be refused there while
AWS allows them. The fixture judges the role's requests here instead:

- `render` reads the ExecutionRole's policy out of deploy/scanner.yaml for a set of stack
  parameters, resolving the intrinsic functions the template uses (Ref, Fn::Sub, Fn::GetAtt,
  Fn::If with the template's conditions, AWS::NoValue).
- `Policy.decide` evaluates it as IAM does for an identity policy: an explicit Deny wins, then an
  Allow whose action, resource and conditions match, else an implicit deny. Resources are exact
  for S3 (bucket and object ARNs, `s3:prefix` for listings), STS AssumeRole (the role ARN), SNS
  Publish (the topic), Security Hub (product and hub) and IAM calls naming a user (the user's
  ARN); other calls are judged on their action against the resource `*`.
- `Policy.lists_bucket` says whether S3 would answer a missing object 404 to this role (it may
  list the bucket without a condition) or 403 (aws-facts.md, "S3: a missing object").
"""

from __future__ import annotations

import fnmatch
import re
import urllib.parse

from cfnlint.decode import cfn_yaml

NO_VALUE = object()


def render(template_path: str, parameters: dict, names: dict) -> dict:
    """The ExecutionRole's policy document for these stack `parameters`. `names` gives the
    deployed resources: `account`, `region`, `bucket`, `topic_arn`."""
    template = cfn_yaml.load(template_path)
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values.update({name: str(value) for name, value in parameters.items()})
    account, region = names["account"], names["region"]
    refs = {
        **values,
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": account,
        "ReportBucket": names["bucket"],
        "DigestTopic": names["topic_arn"],
        "LogGroup": "/aws/lambda/stalecreds",
    }
    attributes = {
        "ReportBucket.Arn": f"arn:aws:s3:::{names['bucket']}",
        "LogGroup.Arn": f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/stalecreds",
    }
    conditions = template.get("Conditions", {})

    def condition(name: str) -> bool:
        return truth(conditions[name])

    def truth(node) -> bool:
        (function, argument), = node.items()
        if function == "Fn::Equals":
            left, right = (resolve(item) for item in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not truth(argument[0])
        if function == "Fn::And":
            return all(truth(item) for item in argument)
        if function == "Fn::Or":
            return any(truth(item) for item in argument)
        if function == "Condition":
            return condition(argument)
        raise ValueError(f"unsupported condition function {function}")

    def substitute(text: str, local: dict) -> str:
        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if name in attributes:
                return attributes[name]
            if name in refs:
                return refs[name]
            raise KeyError(f"Fn::Sub cannot resolve ${{{name}}}")

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def resolve(node):
        if isinstance(node, dict):
            if len(node) == 1:
                (key, argument), = node.items()
                if key == "Ref":
                    return NO_VALUE if argument == "AWS::NoValue" else refs[argument]
                if key == "Fn::GetAtt":
                    return attributes[".".join(argument) if isinstance(argument, list) else argument]
                if key == "Fn::Sub":
                    if isinstance(argument, list):
                        return substitute(argument[0], {k: resolve(v) for k, v in argument[1].items()})
                    return substitute(argument, {})
                if key == "Fn::If":
                    name, then, otherwise = argument
                    return resolve(then if condition(name) else otherwise)
            resolved = {key: resolve(value) for key, value in node.items()}
            return {key: value for key, value in resolved.items() if value is not NO_VALUE}
        if isinstance(node, list):
            return [value for value in (resolve(item) for item in node) if value is not NO_VALUE]
        return node

    role = template["Resources"]["ExecutionRole"]["Properties"]
    statements = []
    for policy in role["Policies"]:
        statements += resolve(policy["PolicyDocument"])["Statement"]
    return {"Version": "2012-10-17", "Statement": statements}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


class Policy:
    """An identity policy, evaluated as IAM does."""

    def __init__(self, document: dict) -> None:
        self.statements = as_list(document["Statement"])

    def decide(self, action: str, resource: str, context: dict) -> str:
        """`allow`, `deny` (an explicit Deny) or `implicit` (nothing allows it)."""
        allowed = False
        for statement in self.statements:
            if not self._concerns(statement, action, resource, context):
                continue
            if statement["Effect"] == "Deny":
                return "deny"
            allowed = True
        return "allow" if allowed else "implicit"

    def lists_bucket(self, bucket: str) -> bool:
        """Whether a statement lets this role list `bucket` whatever the prefix: only then does S3
        answer a missing object 404 (whether a conditional ListBucket counts is not documented,
        so it does not count here)."""
        arn = f"arn:aws:s3:::{bucket}"
        return any(
            statement["Effect"] == "Allow"
            and "Condition" not in statement
            and self._concerns(statement, "s3:ListBucket", arn, {})
            for statement in self.statements
        ) and self.decide("s3:ListBucket", arn, {}) == "allow"

    @staticmethod
    def _concerns(statement: dict, action: str, resource: str, context: dict) -> bool:
        if "Action" in statement:
            if not any(glob(pattern, action, case_sensitive=False) for pattern in as_list(statement["Action"])):
                return False
        elif any(glob(pattern, action, case_sensitive=False) for pattern in as_list(statement.get("NotAction", []))):
            return False
        if not any(glob(pattern, resource) for pattern in as_list(statement.get("Resource", "*"))):
            return False
        return all(
            satisfied(operator, key, expected, context)
            for operator, block in statement.get("Condition", {}).items()
            for key, expected in block.items()
        )


def satisfied(operator: str, key: str, expected, context: dict) -> bool:
    """One condition: a key the request does not carry never satisfies it (no `IfExists`)."""
    if key not in context:
        return False
    value = context[key]
    wanted = as_list(expected)
    if operator == "StringEquals":
        return value in wanted
    if operator == "StringLike":
        return any(glob(pattern, value) for pattern in wanted)
    if operator == "StringNotEquals":
        return value not in wanted
    if operator == "StringNotLike":
        return not any(glob(pattern, value) for pattern in wanted)
    return False


S3_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
}


def judged(service: str, action: str, environ, form: dict, account: str, region: str):
    """The IAM action, resource and condition context of a request, or None when AWS never
    judges it against a policy (GetCallerIdentity)."""
    if service == "sts" and action == "GetCallerIdentity":
        return None
    if service == "s3":
        path = urllib.parse.unquote(environ.get("PATH_INFO", "")).lstrip("/")
        bucket, _, key = path.partition("/")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        name = S3_ACTIONS.get(action, f"s3:{action}")
        if key:
            return name, f"arn:aws:s3:::{bucket}/{key}", {}
        return name, f"arn:aws:s3:::{bucket}", {"s3:prefix": query.get("prefix", [""])[0]}
    if service == "sts" and action == "AssumeRole":
        return "sts:AssumeRole", form.get("RoleArn", "*"), {}
    if service == "sns" and action == "Publish":
        return "sns:Publish", form.get("TopicArn", "*"), {}
    if service == "securityhub":
        if action == "BatchImportFindings":
            return f"securityhub:{action}", f"arn:aws:securityhub:{region}:{account}:product/{account}/default", {}
        return f"securityhub:{action}", f"arn:aws:securityhub:{region}:{account}:hub/default", {}
    if service == "iam" and form.get("UserName"):
        return f"iam:{action}", f"arn:aws:iam::{account}:user/{form['UserName']}", {}
    return f"{service}:{action}", "*", {}
