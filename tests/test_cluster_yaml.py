"""cluster.yaml passes Ray's own schema and keeps the cluster closed."""

from __future__ import annotations

import ipaddress

import yaml
import pytest
from ray.autoscaler._private.util import prepare_config, validate_config

from conftest import REPO


def _config() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_schema() -> None:
    # what `ray up` does: fill in the provider's defaults, then check against ray-schema.json
    validate_config(prepare_config(_config()))


def test_the_schema_check_catches_a_typo() -> None:
    config = _config()
    config["provider"]["security_group"]["IpPermission"] = config["provider"]["security_group"].pop("IpPermissions")
    with pytest.raises(Exception, match="IpPermission"):
        validate_config(prepare_config(config))


def test_ssh_is_opened_only_to_a_named_range() -> None:
    rules = _config()["provider"]["security_group"]["IpPermissions"]
    assert rules, "no inbound rule: Ray's default would open SSH to every address"
    for rule in rules:
        assert (rule["FromPort"], rule["ToPort"]) == (22, 22), rule
        for block in rule["IpRanges"]:
            network = ipaddress.ip_network(block["CidrIp"])
            assert network.prefixlen > 0 and not network.is_unspecified, block


def test_every_node_starts_with_token_auth_and_a_private_dashboard() -> None:
    config = _config()
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token ray start --head" in head
    assert "RAY_AUTH_MODE=token ray start --address" in workers
    assert "--dashboard-host=127.0.0.1" in head
    assert "~/.ray/auth_token" in config["file_mounts"]
    assert any("~/bench" in command for command in config["setup_commands"])  # installs this project
    assert {"cpu_worker", "gpu_worker"} <= set(config["available_node_types"])
