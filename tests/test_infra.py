"""The SAM template against the code: cfn-lint clean, its handler is the real function, its
environment is what the settings read, its event filter is what the projectors claim."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode

from ddbproj.core.filter_criteria import filter_criteria
from ddbproj.core.loading import load_registry
from ddbproj.handlers import observability
from ddbproj.handlers.cli import main
from ddbproj.handlers.commands.filter_criteria import parameter_name
from ddbproj.handlers.settings import ENVIRONMENT_VARIABLES

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"


@pytest.fixture(scope="module")
def template():
    decoded, problems = decode(str(TEMPLATE))
    assert not problems
    return decoded


def resource(template, type_name):
    found = [r for r in template["Resources"].values() if r["Type"] == type_name]
    assert len(found) == 1, type_name
    return found[0]["Properties"]


def parameter_default(template, value):
    """A literal, or the default of the parameter a ``Ref`` names."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return template["Parameters"][value["Ref"]]["Default"]
    return value


def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_handler_string_resolves_to_the_lambda_handler(template):
    function = resource(template, "AWS::Serverless::Function")
    module_name, _, attribute = function["Handler"].rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    from ddbproj.handlers.stream import handler as real

    assert handler is real
    assert function["Runtime"] in {"python3.12", "python3.13"}
    assert function["Architectures"] == ["arm64"]


def test_environment_is_what_the_settings_and_powertools_read(template):
    variables = resource(template, "AWS::Serverless::Function")["Environment"]["Variables"]
    known = set(ENVIRONMENT_VARIABLES) | set(observability.ENVIRONMENT_VARIABLES)
    assert set(variables) <= known, set(variables) - known
    assert {"PROJECTIONS", "ENTITY_TYPE_ATTRIBUTE", "DATABASE_SECRET_ARN", "DATABASE_HOST",
            "DATABASE_SSL_CA"} <= set(variables)
    assert variables["POWERTOOLS_SERVICE_NAME"] == observability.SERVICE


def deployed_filter_criteria(template):
    """The FilterCriteria the template deploys with its parameter defaults."""
    mapping = resource(template, "AWS::Lambda::EventSourceMapping")
    choice = mapping["FilterCriteria"]["Fn::If"]
    assert choice[0] == "HasFilterPattern1"
    patterns = []
    for entry in choice[1]["Filters"]:
        chosen = entry["Fn::If"][1] if "Fn::If" in entry else entry
        pattern = parameter_default(template, chosen["Pattern"])
        if pattern:
            patterns.append({"Pattern": pattern})
    return {"Filters": patterns}


def test_filter_criteria_equal_the_generated_ones(template, capsys):
    env = resource(template, "AWS::Serverless::Function")["Environment"]["Variables"]
    projections = parameter_default(template, env["PROJECTIONS"]).split(",")
    attribute = parameter_default(template, env["ENTITY_TYPE_ATTRIBUTE"])
    expected = filter_criteria(load_registry(projections, type_attribute=attribute))
    assert deployed_filter_criteria(template) == expected
    assert main(["filter-criteria", "--projections", ",".join(projections)]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    slots = [parameter_name(i) for i in range(5)]
    assert [p for p in template["Parameters"] if p.startswith("FilterPattern")] == slots


def test_event_source_mapping_settings(template):
    mapping = resource(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert parameter_default(template, mapping["BatchSize"]) == 10000
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["FailureBucket", "Arn"]}
    table = resource(template, "AWS::DynamoDB::Table")
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_no_wildcard_resources_except_network_interfaces(template):
    role = template["Resources"]["FunctionRole"]["Properties"]
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                assert all(a.startswith("ec2:") for a in statement["Action"]), statement


def test_alarms_read_metrics_the_handler_emits(template):
    alarms = [r["Properties"] for r in template["Resources"].values()
              if r["Type"] == "AWS::CloudWatch::Alarm"]
    own = [a for a in alarms if a["Namespace"] != "AWS/Lambda"]
    assert {a["MetricName"] for a in own} <= set(observability.METRIC_NAMES)
    assert "DeadLetters" in {a["MetricName"] for a in own}
    assert {a["MetricName"] for a in alarms if a["Namespace"] == "AWS/Lambda"} == {
        "IteratorAge", "Errors"}
    for alarm in own:
        assert alarm["Dimensions"] == [{"Name": "service", "Value": observability.SERVICE}]


def test_event_source_mapping_publishes_its_event_count_metrics(template):
    mapping = resource(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["MetricsConfig"] == {"Metrics": ["EventCount"]}


def test_snapstart_is_an_option_on_the_published_versions_the_stream_invokes(template):
    function = resource(template, "AWS::Serverless::Function")
    assert function["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
    assert template["Parameters"]["SnapStart"]["Default"] == "None"
    assert template["Parameters"]["SnapStart"]["AllowedValues"] == ["None", "PublishedVersions"]
    assert function["AutoPublishAlias"] == "live"
    mapping = resource(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["FunctionName"] == {"Ref": "Function.Alias"}
    major, minor = map(int, function["Runtime"].removeprefix("python").split("."))
    assert (major, minor) >= (3, 12), "SnapStart for Python needs python3.12 or later"


def test_the_proxy_pinning_rule_is_stated_beside_the_concurrency_cap():
    lines = TEMPLATE.read_text("utf-8").splitlines()
    above = lines[:lines.index("  ReservedConcurrency:")]
    comment = []
    while above and above[-1].startswith("  #"):
        comment.insert(0, above.pop())
    comment = " ".join(comment)
    assert "16 KB" in comment
    assert "MaxConnectionsPercent" in comment
