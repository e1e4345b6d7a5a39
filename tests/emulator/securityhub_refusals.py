"""Shows that the fixture's Security Hub refuses what AWS refuses, so that a test passing on it
means something: a finding of another account (refused in FailedFindings), a request that breaks
the service model (400 InvalidInputException), and a valid one (imported).

    securityhub_refusals.py ENDPOINT

Prints one JSON object: {"foreign": answer, "malformed": error code, "valid": answer}.
"""

import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

MANAGEMENT = "123456789012"
REGION = "us-east-1"


def finding(account: str, finding_id: str, record_state: str = "ACTIVE") -> dict:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id,
        "ProductArn": f"arn:aws:securityhub:{REGION}:{account}:product/{account}/default",
        "GeneratorId": "check",
        "AwsAccountId": account,
        "CreatedAt": "2026-11-28T10:00:00.000Z",
        "UpdatedAt": "2026-11-28T10:00:00.000Z",
        "Title": "check",
        "Description": "check",
        "Resources": [{"Type": "AwsIamUser", "Id": f"arn:aws:iam::{account}:user/check"}],
        "RecordState": record_state,
    }


def main() -> int:
    client = boto3.client(
        "securityhub",
        endpoint_url=sys.argv[1],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        # The fixture must catch what botocore would have caught on the client side.
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    seen = {}
    answer = client.batch_import_findings(Findings=[finding("210987654321", "check/foreign")])
    seen["foreign"] = {key: answer[key] for key in ("FailedCount", "SuccessCount", "FailedFindings")}
    try:
        client.batch_import_findings(Findings=[finding(MANAGEMENT, "check/malformed", "GONE")])
        seen["malformed"] = "accepted"
    except ClientError as error:
        seen["malformed"] = error.response["Error"]["Code"]
    answer = client.batch_import_findings(Findings=[finding(MANAGEMENT, "check/valid")])
    seen["valid"] = {key: answer[key] for key in ("FailedCount", "SuccessCount", "FailedFindings")}
    json.dump(seen, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
