"""infra/_sdk.py: the program's provider SDK modules without importing whole SDK packages.

Imports are process-wide, so each scenario runs in a fresh interpreter, which prints a JSON
report for the tests to read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from floyo_scale.infra._sdk import AWS_LEAVES

# what _sdk provides -> the package it stands for
PACKAGES = {service: f"pulumi_aws.{service}" for service in AWS_LEAVES} | {
    "vercel": "pulumiverse_vercel"
}

_HELPERS = """
import importlib, json, sys, types
from pulumi.runtime import rpc

def load(name):
    module = importlib.import_module(name)
    getattr(module, "_utilities", None)  # reading any attribute loads a lazy package
    return module

def kind(module_name):
    return type(sys.modules[module_name]).__name__

def describe(package):
    # name by name: enough to tell a module from a function or class of the same name,
    # and one class from another
    out = {}
    for name, value in vars(package).items():
        if name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            out[name] = "module " + value.__name__
        elif hasattr(value, "__qualname__") and hasattr(value, "__module__"):
            out[name] = f"{type(value).__name__} {value.__module__}.{value.__qualname__}"
        else:
            out[name] = type(value).__name__
    return out

def registrations():
    # what the Pulumi runtime knows to deserialize resource references
    modules = {
        key: [f"{type(m).__module__}.{type(m).__name__} {m.version()} {m.mod_info}" for m in ms]
        for key, ms in rpc._RESOURCE_MODULES.items()
    }
    packages = {
        key: [f"{type(p).__module__}.{type(p).__name__} {p.version()} {p.pkg_info}" for p in ps]
        for key, ps in rpc._RESOURCE_PACKAGES.items()
    }
    return {"modules": modules, "packages": packages}
"""


def _run(code: str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "FLOYO_NO_SHORTCUTS"} | env
    proc = subprocess.run(
        [sys.executable, "-c", _HELPERS + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fast_then_full() -> dict:
    """Everything _sdk provides; then every package loaded in full, as by anyone importing
    it the ordinary way later in the same process."""
    return _run(
        f"""
        from floyo_scale.infra import _sdk
        packages = {PACKAGES!r}
        subsets = {{name: getattr(_sdk, name) for name in packages}}
        report = {{
            "subset_types": {{name: type(v).__name__ for name, v in subsets.items()}},
            "lazy": {{name: kind(p) for name, p in packages.items()}},
            "names": {{
                name: sorted(n for n in vars(v) if not n.startswith("_"))
                for name, v in subsets.items()
            }},
            "registrations_before": registrations(),
        }}
        full = {{name: load(p) for name, p in packages.items()}}
        report["same_objects"] = {{
            name: all(getattr(full[name], n) is getattr(subsets[name], n) for n in names)
            for name, names in report["names"].items()
        }}
        report["loaded"] = {{name: kind(p) for name, p in packages.items()}}
        report["full"] = {{name: describe(module) for name, module in full.items()}}
        report["registrations_after"] = registrations()
        print(json.dumps(report))
        """
    )


@pytest.fixture(scope="module")
def plain() -> dict:
    """The same packages imported the ordinary way, in a fresh interpreter."""
    return _run(
        f"""
        packages = {PACKAGES!r}
        full = {{name: describe(load(p)) for name, p in packages.items()}}
        print(json.dumps({{"full": full, "registrations": registrations()}}))
        """
    )


def test_the_program_s_packages_load_without_their_init(fast_then_full):
    assert set(fast_then_full["subset_types"].values()) == {"Subset"}, (
        "a package fell back to a full import: has the SDK changed its layout? "
        "update the tables in floyo_scale/infra/_sdk.py"
    )
    assert set(fast_then_full["lazy"].values()) == {"_LazyModule"}


def test_subsets_have_the_classes_the_program_uses(fast_then_full):
    names = fast_then_full["names"]
    for name, wanted in {
        "ec2": ["Vpc", "Subnet", "SecurityGroup", "SecurityGroupIngressArgs"],
        "s3": ["Bucket", "BucketVersioning", "BucketReplicationConfigRuleArgs"],
        "elasticache": ["ReplicationGroup", "SubnetGroup", "ParameterGroupParameterArgs"],
        "iam": ["Role", "RolePolicy"],
        "budgets": ["Budget", "BudgetNotificationArgs"],
        "cloudwatch": ["MetricAlarm"],
        "sns": ["Topic", "TopicSubscription"],
        "vercel": ["Provider", "Project", "ProjectDomain", "ProjectEnvironmentVariable"],
    }.items():
        assert set(wanted) <= set(names[name]), name


def test_a_later_ordinary_import_sees_the_same_package_and_the_same_objects(fast_then_full, plain):
    assert set(fast_then_full["loaded"].values()) == {"module"}
    assert all(fast_then_full["same_objects"].values()), fast_then_full["same_objects"]
    for name in PACKAGES:
        assert fast_then_full["full"][name] == plain["full"][name], name


def test_the_runtime_knows_the_same_resource_modules_before_and_after(fast_then_full, plain):
    """Registered once, as the SDK's own __init__ registers them: before any package is
    loaded in full, and unchanged (not twice) once they are."""
    assert fast_then_full["registrations_before"] == plain["registrations"]
    assert fast_then_full["registrations_after"] == plain["registrations"]
    assert any(key.startswith("vercel:") for key in plain["registrations"]["modules"])


def test_resource_references_deserialize_to_the_same_classes():
    """The engine sends a resource back as a reference; the runtime finds its class through
    the registered modules, which loads that package in full."""
    report = _run(
        """
        import pulumi
        from google.protobuf import struct_pb2
        from pulumi.runtime.sync_await import _sync_await
        from floyo_scale.infra import _sdk

        class Mocks(pulumi.runtime.Mocks):
            def new_resource(self, args):
                return f"{args.name}-id", dict(args.inputs)
            def call(self, args):
                return {}

        pulumi.runtime.set_mocks(Mocks(), preview=False)
        made = {
            "vpc": _sdk.ec2.Vpc("net", cidr_block="10.0.0.0/16"),
            "project": _sdk.vercel.Project("app", name="app"),
        }
        before = {"ec2": kind("pulumi_aws.ec2"), "vercel": kind("pulumiverse_vercel")}
        report = {"before": before}
        for name, resource in made.items():
            urn = _sync_await(resource.urn.future())
            ref = {rpc._special_sig_key: rpc._special_resource_sig, "urn": urn, "id": "x"}
            struct = struct_pb2.Struct()
            struct.update({"ref": ref})
            value = rpc.deserialize_properties(struct)["ref"]
            report[name] = [type(value) is type(resource), _sync_await(value.urn.future()) == urn]
        print(json.dumps(report))
        """
    )
    assert report == {
        "before": {"ec2": "_LazyModule", "vercel": "_LazyModule"},
        "vpc": [True, True],
        "project": [True, True],
    }


def test_names_outside_the_subset_fall_back_to_the_full_package():
    report = _run(
        """
        import pulumi_aws
        from floyo_scale.infra import _sdk
        gateway = _sdk.ec2.InternetGateway  # not in AWS_LEAVES
        group = _sdk.vercel.AccessGroup  # not in VERCEL_LEAVES
        import pulumiverse_vercel
        print(json.dumps({
            "same": [gateway is pulumi_aws.ec2.InternetGateway,
                     group is pulumiverse_vercel.AccessGroup],
            "loaded": [kind("pulumi_aws.ec2"), kind("pulumiverse_vercel")],
        }))
        """
    )
    assert report == {"same": [True, True], "loaded": ["module", "module"]}


def test_a_function_module_leaf_leaves_the_function_bound():
    """`get_vpc.py` defines `get_vpc`: once the package loads, `ec2.get_vpc` is the function
    (as in an ordinary import), not the module."""
    report = _run(
        """
        import pulumi_aws
        from floyo_scale.infra import _sdk
        subset = _sdk.aws_service("ec2", ("get_vpc", "vpc"))
        print(json.dumps({
            "subset": type(subset).__name__,
            "function": callable(pulumi_aws.ec2.get_vpc)
            and not isinstance(pulumi_aws.ec2.get_vpc, types.ModuleType),
            "same": pulumi_aws.ec2.get_vpc is subset.get_vpc,
            "module": isinstance(pulumi_aws.ec2.vpc, types.ModuleType),
        }))
        """
    )
    assert report == {"subset": "Subset", "function": True, "same": True, "module": True}


def test_packages_already_loaded_or_the_switch_off_give_the_package_itself():
    report = _run(
        """
        import pulumi_aws, pulumiverse_vercel
        pulumi_aws.s3.Bucket  # loaded in full before _sdk is asked
        from floyo_scale.infra import _sdk
        print(json.dumps({
            "s3": _sdk.s3 is pulumi_aws.s3,
            "vercel": _sdk.vercel is pulumiverse_vercel,
        }))
        """
    )
    assert report == {"s3": True, "vercel": True}
    report = _run(
        """
        from floyo_scale.infra import _sdk
        print(json.dumps({
            "ec2": _sdk.ec2 is sys.modules["pulumi_aws.ec2"],
            "vercel": _sdk.vercel is sys.modules["pulumiverse_vercel"],
            "vercel_loaded": kind("pulumiverse_vercel"),
        }))
        """,
        FLOYO_NO_SHORTCUTS="1",
    )
    assert report == {"ec2": True, "vercel": True, "vercel_loaded": "module"}
