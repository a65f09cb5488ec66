"""CloudFormation YAML and intrinsic functions, resolved for the local stack.

template.yaml is the single source of truth, so the local stack reads it as CloudFormation
would: short tags become their long form (``!Ref X`` -> ``{"Ref": "X"}``), then intrinsics are
resolved with local answers (a table's name is its logical id, a queue's URL points at the moto
server). Only what the stack needs is resolved, lazily, so an unsupported intrinsic in an
unrelated place (Outputs, Policies) never stops it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from billing_devstack.config import ACCOUNT_ID, REGION, STACK_NAME


class TemplateError(Exception):
    """The template uses something the local stack cannot resolve; the message says where."""


class _NoValue:
    """``AWS::NoValue``: the enclosing key or list item disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class CfnLoader(yaml.SafeLoader):
    """SafeLoader plus every ``!Tag`` CloudFormation defines (scalar, sequence or mapping)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)

# YAML 1.1 reads on/off/yes/no as booleans; CloudFormation keeps them as strings (a condition
# or parameter may well be called ``On``). Only true/false are booleans, as in YAML 1.2.
CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
CfnLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_yaml(text: str) -> dict[str, Any]:
    """Parse a template into plain dicts/lists with intrinsics in their long form."""
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict):
        raise TemplateError("the template is not a YAML mapping")
    return data


def cfn_string(value: Any) -> str:
    """CloudFormation hands every scalar to resources as a string (``true``, ``3``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TemplateError(f"expected a scalar, got {value!r}")


@dataclass(frozen=True)
class LocalNames:
    """How local resources are named and addressed; the only place that knows the scheme."""

    moto_endpoint: str
    region: str = REGION
    account_id: str = ACCOUNT_ID
    stack_name: str = STACK_NAME

    def queue_url(self, name: str) -> str:
        """moto builds queue URLs from the endpoint it is called on."""
        return f"{self.moto_endpoint}/{self.account_id}/{name}"

    def arn(self, service: str, resource: str) -> str:
        """An ARN in the local account and region."""
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"


_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Resolver:
    """Resolves intrinsics of one template against local names and parameter values."""

    template: Mapping[str, Any]
    names: LocalNames
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    _conditions: dict[str, bool] = field(default_factory=dict, init=False)

    @property
    def resources(self) -> Mapping[str, Any]:
        """The template's Resources section (empty when absent)."""
        resources = self.template.get("Resources") or {}
        return resources if isinstance(resources, Mapping) else {}

    def resource_type(self, logical_id: str) -> str:
        """The resource's Type, or a TemplateError naming the missing logical id."""
        resource = self.resources.get(logical_id)
        if not isinstance(resource, Mapping):
            raise TemplateError(f"no resource or parameter named {logical_id!r}")
        return str(resource.get("Type", ""))

    def properties(self, logical_id: str) -> Mapping[str, Any]:
        """The resource's Properties, unresolved."""
        props = self.resources[logical_id].get("Properties") or {}
        return props if isinstance(props, Mapping) else {}

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic inside ``value``; ``AWS::NoValue`` entries are dropped."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._intrinsics().get(key)
            if handler is not None:
                return handler(arg)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self.ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::If": self._if,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::Base64": lambda arg: base64.b64encode(
                cfn_string(self.resolve(arg)).encode()
            ).decode(),
            "Fn::FindInMap": self._find_in_map,
            "Fn::GetAZs": lambda _arg: [f"{self.names.region}{zone}" for zone in "abc"],
            "Fn::Equals": self._equals,
            "Fn::Not": lambda arg: not self.condition_value(self._single(arg, "Fn::Not")),
            "Fn::And": lambda arg: all(self.condition_value(item) for item in arg),
            "Fn::Or": lambda arg: any(self.condition_value(item) for item in arg),
            "Condition": self.condition,
        }

    # ------------------------------------------------------------------ Ref / GetAtt
    def ref(self, name: Any) -> Any:
        """``Ref``: pseudo parameter, template parameter, or a resource's local identity."""
        if not isinstance(name, str):
            raise TemplateError(f"Ref expects a name, got {name!r}")
        pseudo = self._pseudo_parameters()
        if name in pseudo:
            return pseudo[name]
        parameters = self.template.get("Parameters") or {}
        if name in parameters:
            return self.parameter_value(name)
        return self._resource_ref(name)

    def parameter_value(self, name: str) -> Any:
        """A parameter's Default, overridden by ``LOCAL_PARAM_<name>``; lists stay lists."""
        spec = (self.template.get("Parameters") or {})[name] or {}
        if name in self.parameter_overrides:
            raw: Any = self.parameter_overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no Default; set LOCAL_PARAM_{name}")
        kind = str(spec.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return raw if isinstance(raw, list) else cfn_string(raw).split(",")
        return cfn_string(raw)

    def _pseudo_parameters(self) -> dict[str, Any]:
        names = self.names
        return {
            "AWS::Region": names.region,
            "AWS::AccountId": names.account_id,
            "AWS::StackName": names.stack_name,
            "AWS::StackId": names.arn("cloudformation", f"stack/{names.stack_name}/local"),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    def _resource_ref(self, logical_id: str) -> str:
        kind = self.resource_type(logical_id)
        if kind == "AWS::SQS::Queue":
            return self.names.queue_url(self.queue_name(logical_id))
        if kind == "AWS::DynamoDB::Table":
            return self.table_name(logical_id)
        return logical_id

    def table_name(self, logical_id: str) -> str:
        """TableName when the template sets one, else the logical id (the local convention)."""
        name = self.properties(logical_id).get("TableName")
        return logical_id if name is None else cfn_string(self.resolve(name))

    def queue_name(self, logical_id: str) -> str:
        """QueueName when set, else the logical id (with ``.fifo`` for FIFO queues)."""
        props = self.properties(logical_id)
        if props.get("QueueName") is not None:
            return cfn_string(self.resolve(props["QueueName"]))
        fifo = cfn_string(self.resolve(props.get("FifoQueue", False))) == "true"
        return f"{logical_id}.fifo" if fifo else logical_id

    def _get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical_id, attribute = (cfn_string(self.resolve(part)) for part in arg)
        return self.get_att(logical_id, attribute)

    def get_att(self, logical_id: str, attribute: str) -> str:
        """``Fn::GetAtt`` for the attributes the local stack can answer."""
        kind = self.resource_type(logical_id)
        names = self.names
        if kind == "AWS::SQS::Queue":
            name = self.queue_name(logical_id)
            by_attribute = {
                "Arn": names.arn("sqs", name),
                "QueueName": name,
                "QueueUrl": names.queue_url(name),
            }
        elif kind == "AWS::DynamoDB::Table":
            table = f"table/{self.table_name(logical_id)}"
            by_attribute = {
                "Arn": names.arn("dynamodb", table),
                "StreamArn": names.arn("dynamodb", f"{table}/stream/local"),
            }
        elif kind == "AWS::KMS::Key":  # a stand-in: the local stack makes the key in moto
            by_attribute = {"Arn": names.arn("kms", f"key/{logical_id}")}
        elif kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            by_attribute = {"Arn": names.arn("lambda", f"function:{logical_id}")}
        else:
            by_attribute = {}
        if attribute not in by_attribute:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not supported locally")
        return by_attribute[attribute]

    # ------------------------------------------------------------------ strings and lists
    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], self.resolve(arg[1])
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub expects a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return cfn_string(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            return cfn_string(self.ref(name))

        return _SUB_VAR.sub(replace, text)

    def _join(self, arg: Any) -> str:
        delimiter, items = arg
        return cfn_string(delimiter).join(cfn_string(item) for item in self.resolve(items))

    def _select(self, arg: Any) -> Any:
        index, items = self.resolve(arg)
        return items[int(index)]

    def _split(self, arg: Any) -> list[str]:
        delimiter, text = self.resolve(arg)
        return cfn_string(text).split(cfn_string(delimiter))

    def _find_in_map(self, arg: Any) -> Any:
        map_name, top, second = (cfn_string(part) for part in self.resolve(arg))
        try:
            return self.resolve(self.template["Mappings"][map_name][top][second])
        except KeyError:
            raise TemplateError(f"Fn::FindInMap {map_name}/{top}/{second} not found") from None

    # ------------------------------------------------------------------ conditions
    def _if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _equals(self, arg: Any) -> bool:
        left, right = self.resolve(arg)
        return bool(cfn_string(left) == cfn_string(right))

    @staticmethod
    def _single(arg: Any, name: str) -> Any:
        if isinstance(arg, list) and len(arg) == 1:
            return arg[0]
        raise TemplateError(f"{name} expects a list of one condition, got {arg!r}")

    def condition_value(self, value: Any) -> bool:
        """Evaluate a condition expression (a function or ``{"Condition": name}``)."""
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return resolved
        if isinstance(resolved, str) and resolved in ("true", "false"):
            return resolved == "true"
        raise TemplateError(f"not a condition: {value!r}")

    def condition(self, name: Any) -> bool:
        """A named condition of the Conditions section, evaluated once."""
        if not isinstance(name, str):
            raise TemplateError(f"a condition name must be a string, got {name!r}")
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"no condition named {name!r}")
            self._conditions[name] = self.condition_value(conditions[name])
        return self._conditions[name]


def dumps_policy(value: Any) -> str:
    """SQS wants RedrivePolicy as a JSON string; the template may hold an object."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
