"""Runs the fan-out state machine of deploy/scanner.yaml in moto's ASL interpreter.

The definition is read from the template with cfn-lint's parser (it knows CloudFormation's
tags), its substitutions made, and the state machine created in moto in this process, with
`stepfunctions.execute_state_machine` on. moto cannot run our function (no Docker), so a stand-in
answers each invocation by the event's `step`, the way `bootstrap` does, and records the event;
a scenario scripts its answers (a duplicate plan, a throttled batch, a failed batch, a plan whose
items are missing, a plan retried, a plan or a merge that fails for good). This checks the control flow: the plan, one child per batch, the Choice on a
duplicate, retries, the Catch to merge, the merge's input and the execution's output. The test
(tests/fanout.rs) asserts on what this prints: one JSON object per scenario.

Usage: state_machine.py TEMPLATE SCENARIO...
"""

import json
import sys
import threading
import time

import boto3
from cfnlint.decode import decode
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError

REGION = "us-east-1"
BUCKET = "stalecreds-reports"
PLAN = f"s3://{BUCKET}/stalecreds/runs/2026-11-28T10_00_00Z/plan.json"
ITEMS = "stalecreds/runs/2026-11-28T10_00_00Z/items.json"
BATCHES = 3


class Function:
    """Answers the state machine's invocations as `bootstrap` would, by step, and records them."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.events = []
        self.lock = threading.Lock()

    def invoke(self, body, response_headers):
        event = json.loads(body)
        with self.lock:
            self.events.append(event)
            attempts = sum(1 for seen in self.events if seen == event)
        step = event.get("step")
        if step == "plan" and self.scenario == "plan_retried" and attempts == 1:
            raise JsonRESTError("TooManyRequestsException", "Rate exceeded")
        if step == "plan" and self.scenario == "plan_fails":
            response_headers["x-amz-function-error"] = "Unhandled"
            return {
                "errorType": "NonRetryable.Configuration",
                "errorMessage": "cannot list the organization's accounts. What to do: run from the management account",
            }
        if step == "merge" and self.scenario == "merge_refuses":
            response_headers["x-amz-function-error"] = "Unhandled"
            return {
                "errorType": "NonRetryable.Configuration",
                "errorMessage": "this step's settings are not the plan's. What to do: the configuration changed during the run",
            }
        if step == "failed":
            return {"step": "failed", "failed_step": event.get("failed_step"), "run_id": event.get("run_id")}
        if step == "plan":
            return {
                "step": "plan",
                "duplicate": self.scenario == "duplicate",
                "run_id": event.get("run_id"),
                "plan": PLAN,
                "bucket": BUCKET,
                "items_key": "stalecreds/runs/none/items.json"
                if self.scenario == "items_missing"
                else ITEMS,
                "batches": BATCHES,
                "accounts": 2 * BATCHES,
            }
        if step == "batch":
            batch = event.get("batch")
            if self.scenario == "faults" and batch == 1 and attempts == 1:
                raise JsonRESTError("TooManyRequestsException", "Rate exceeded")
            if self.scenario == "faults" and batch == 2:
                response_headers["x-amz-function-error"] = "Unhandled"
                return {
                    "errorType": "NonRetryable.Configuration",
                    "errorMessage": "this step's settings are not the plan's",
                }
            return {"step": "batch", "batch": batch, "partial": f"batch-{batch}", "accounts": 2}
        if step == "merge":
            return {"step": "merge", "run_id": "2026-11-28T10:00:00Z", "summary": {"findings": 6}}
        response_headers["x-amz-function-error"] = "Unhandled"
        return {"errorType": "NonRetryable.Configuration", "errorMessage": f"no step {step!r}"}


def definition(template, function_arn):
    parsed, errors = decode(template)
    if errors or parsed is None:
        sys.exit(f"{template}: {errors}")
    resource = parsed["Resources"]["StateMachine"]["Properties"]
    text = json.dumps(resource["Definition"])
    substitutions = {"FunctionArn": function_arn, "ReportBucket": BUCKET}
    for name in resource["DefinitionSubstitutions"]:
        text = text.replace("${" + name + "}", substitutions[name])
    if "${" in text:
        sys.exit(f"{template}: a substitution is left in the definition")
    return text


def run(template, scenario):
    function = Function(scenario)
    original = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        return json.dumps(function.invoke(body, response_headers)).encode()

    LambdaSimpleBackend.invoke = invoke
    try:
        return execute(template, scenario, function)
    finally:
        LambdaSimpleBackend.invoke = original


def execute(template, scenario, function):
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName=f"sfn-{scenario}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    function_arn = boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=f"stalecreds-{scenario}",
        Runtime="provided.al2023",
        Role=role,
        Handler="bootstrap",
        Code={"ZipFile": b"bootstrap"},
    )["FunctionArn"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    items = [{"batch": batch} for batch in range(BATCHES)]
    s3.put_object(Bucket=BUCKET, Key=ITEMS, Body=json.dumps(items).encode())
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name=f"stalecreds-fanout-{scenario}",
        definition=definition(template, function_arn),
        roleArn=role,
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=machine,
        input=json.dumps(
            {
                "scheduled_time": "2026-11-28T10:00:00Z",
                "max_concurrency": 2,
                "tolerated_failure_percentage": 100,
            }
        ),
    )["executionArn"]
    ends = time.monotonic() + 60
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.monotonic() > ends:
            break
        time.sleep(0.05)
    map_runs = [
        sfn.describe_map_run(mapRunArn=run["mapRunArn"])
        for run in sfn.list_map_runs(executionArn=execution)["mapRuns"]
    ]
    history = sfn.get_execution_history(executionArn=execution)["events"]
    results = s3.list_objects_v2(Bucket=BUCKET, Prefix="stalecreds/map-results/").get("Contents", [])
    return {
        "scenario": scenario,
        "execution": execution,
        "status": described["status"],
        "output": json.loads(described.get("output") or "null"),
        "events": function.events,
        "states": [
            event["stateEnteredEventDetails"]["name"]
            for event in history
            if "stateEnteredEventDetails" in event
        ],
        "map_runs": [
            {
                "max_concurrency": described_run["maxConcurrency"],
                "items": described_run["itemCounts"]["total"],
                "succeeded": described_run["itemCounts"]["succeeded"],
                "failed": described_run["itemCounts"]["failed"],
            }
            for described_run in map_runs
        ],
        "map_results": sorted(result["Key"] for result in results),
    }


def main():
    template, scenarios = sys.argv[1], sys.argv[2:]
    for scenario in scenarios:
        with mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
            }
        ):
            print(json.dumps(run(template, scenario)), flush=True)


if __name__ == "__main__":
    main()
