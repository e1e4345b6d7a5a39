#!/usr/bin/env python3
"""SQS subscriptions to the digest topic with SNS filter policies, as teams would make them:
`setup` makes one queue per team (`{"owner": [TEAM]}`) and one for the security team that takes
only what has no owner (`{"owner": [{"exists": false}]}`: the digest); `read` prints, per queue,
every message received (subject and `owner` attribute) as one JSON object.

Usage: owner_subscriptions.py ENDPOINT TOPIC_ARN setup TEAM...
       owner_subscriptions.py ENDPOINT TOPIC_ARN read
"""

from __future__ import annotations

import json
import sys

import boto3


def main() -> int:
    endpoint, topic_arn, command, *teams = sys.argv[1:]
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=endpoint)
    sns = session.client("sns", endpoint_url=endpoint)
    if command == "setup":
        policies = {f"team-{team}": {"owner": [team]} for team in teams}
        policies["security"] = {"owner": [{"exists": False}]}
        for name, policy in policies.items():
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(
                TopicArn=topic_arn, Protocol="sqs", Endpoint=arn,
                Attributes={"FilterPolicy": json.dumps(policy), "FilterPolicyScope": "MessageAttributes"},
            )
        print(json.dumps(sorted(policies)))
        return 0
    seen = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        name = url.rsplit("/", 1)[-1]
        messages = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not got:
                break
            for message in got:
                envelope = json.loads(message["Body"])
                attributes = envelope.get("MessageAttributes", {})
                messages.append({
                    "subject": envelope.get("Subject"),
                    "owner": attributes.get("owner", {}).get("Value"),
                })
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        seen[name] = sorted(messages, key=lambda m: (m["owner"] or "", m["subject"] or ""))
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
