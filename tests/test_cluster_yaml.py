"""cluster.yaml passes Ray's own schema and keeps the cluster closed: every node type names the
user's security group by id, so Ray's AWS launcher creates and opens nothing of its own."""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
import types
from unittest import mock

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from conftest import REPO

SECURITY_GROUP_ID = re.compile(r"sg-[0-9a-f]{8}([0-9a-f]{9})?")


def _config() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_schema() -> None:
    # what `ray up` does: fill in the provider's defaults, then check against ray-schema.json
    validate_config(prepare_config(_config()))


def test_the_schema_check_catches_a_typo() -> None:
    config = _config()
    node = config["available_node_types"]["cpu_worker"]
    node["min_worker"] = node.pop("min_workers")
    with pytest.raises(Exception, match="min_worker"):
        validate_config(prepare_config(config))


def test_every_node_type_names_the_users_security_group_by_id() -> None:
    config = _config()
    groups = {name: node["node_config"].get("SecurityGroupIds") for name, node in config["available_node_types"].items()}
    assert all(groups.values()), groups  # a node type without one gets the launcher's own group
    (ids,) = {tuple(g) for g in groups.values()}  # one group for the whole cluster
    assert len(ids) == 1 and SECURITY_GROUP_ID.fullmatch(ids[0]), ids
    # no security_group block: its IpPermissions are rules the launcher would add to a group it makes
    assert "security_group" not in config["provider"]
    assert not any("NetworkInterfaces" in node["node_config"] for node in config["available_node_types"].values())


def _without_boto() -> dict[str, types.ModuleType]:
    """Just enough of boto3/botocore for Ray's AWS config module to import (it calls no AWS here)."""
    def stub(name: str) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__path__ = []  # a package, so submodules import
        module.__version__ = "99.0"

        def attribute(attr: str) -> type:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return type(attr, (), {})

        module.__getattr__ = attribute  # type: ignore[method-assign]
        return module

    names = ("boto3", "boto3.resources", "boto3.resources.base", "boto3.exceptions",
             "botocore", "botocore.client", "botocore.config", "botocore.exceptions")
    if importlib.util.find_spec("boto3") is not None:
        return {}  # the real one is installed
    return {name: stub(name) for name in names}


def test_rays_launcher_creates_and_opens_no_security_group() -> None:
    """Ray's own security-group step, run on this config: it keeps the user's group and never
    calls AWS; the same step with one node type lacking the id would go and make a group."""
    with mock.patch.dict(sys.modules, _without_boto()):
        from ray.autoscaler._private.aws import config as aws

        prepared = prepare_config(_config())
        no_aws = AssertionError("the launcher called AWS to find or create a security group")
        with mock.patch.object(aws, "_resource", side_effect=no_aws), mock.patch.object(aws, "_client", side_effect=no_aws):
            configured = aws._configure_security_group(copy.deepcopy(prepared))
            assert configured["available_node_types"] == prepared["available_node_types"]  # nothing added

            missing = copy.deepcopy(prepared)
            node = missing["available_node_types"]["gpu_worker"]["node_config"]
            del node["SecurityGroupIds"]
            node["SubnetIds"] = ["subnet-0123456789abcdef0"]
            with pytest.raises(AssertionError, match="called AWS"):
                aws._configure_security_group(missing)


def test_every_node_starts_with_token_auth_and_a_private_dashboard() -> None:
    config = _config()
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token ray start --head" in head
    assert "RAY_AUTH_MODE=token ray start --address" in workers
    assert "--dashboard-host=127.0.0.1" in head
    assert "~/.ray/auth_token" in config["file_mounts"]
    assert any("~/bench" in command for command in config["setup_commands"])  # installs this project
    assert any("ray[default,tune]>=2.59" in command for command in config["setup_commands"])  # token auth by default
    assert {"cpu_worker", "gpu_worker"} <= set(config["available_node_types"])


def test_the_readme_says_what_the_launcher_would_add() -> None:
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "0.0.0.0/0" in readme and "SecurityGroupIds" in readme
    assert "opens only SSH" not in readme  # the old promise the launcher did not keep
