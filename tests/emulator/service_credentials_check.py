#!/usr/bin/env python3
"""Drives the emulator's service-specific credentials with boto3 (botocore parses every answer
by the iam model it ships) and prints what it saw as one JSON object: the credentials of every
user page by page, one user's, one service's, and the refusals of requests the model forbids.

Usage: service_credentials_check.py ENDPOINT ACCOUNT_ID
"""

from __future__ import annotations

import json
import sys

import boto3
from botocore.exceptions import ClientError


def main() -> int:
    endpoint, account = sys.argv[1], sys.argv[2]
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    creds = session.client("sts", endpoint_url=endpoint).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="check"
    )["Credentials"]
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    pages, everyone, marker = 0, [], None
    while True:
        asked = {"AllUsers": True, "MaxItems": 1, **({"Marker": marker} if marker else {})}
        page = iam.list_service_specific_credentials(**asked)
        pages += 1
        everyone += page["ServiceSpecificCredentials"]
        if not page.get("IsTruncated"):
            break
        marker = page["Marker"]

    def refusal(call, **request):
        try:
            call(**request)
        except ClientError as error:
            return error.response["Error"]["Code"]
        return None

    def shown(credential):
        return {
            name: (value.isoformat() if hasattr(value, "isoformat") else value)
            for name, value in credential.items()
        }

    result = {
        "pages": pages,
        "all": [shown(credential) for credential in everyone],
        "cora": len(iam.list_service_specific_credentials(UserName="cora")["ServiceSpecificCredentials"]),
        "bedrock": len(iam.list_service_specific_credentials(
            AllUsers=True, ServiceName="bedrock.amazonaws.com")["ServiceSpecificCredentials"]),
        "all_users_and_a_user": refusal(iam.list_service_specific_credentials, AllUsers=True, UserName="cora"),
        "unknown_user": refusal(iam.list_service_specific_credentials, UserName="nobody"),
        "bad_status": refusal(
            iam.update_service_specific_credential, UserName="cora",
            ServiceSpecificCredentialId=everyone[0]["ServiceSpecificCredentialId"], Status="Paused",
        ),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
