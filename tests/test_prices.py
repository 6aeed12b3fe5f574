"""The price catalog: every figure sourced and dated, the loader typed and helpful."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import date

import pytest

from floyo_scale.catalog.prices import (
    CATALOG_PATH,
    PriceCatalog,
    PriceCatalogError,
    PriceEntry,
    PriceKeyError,
    check_catalog,
    load_prices,
    parse_catalog,
    read_catalog_document,
)

# The catalog's figures were read on this day; a later refresh moves `read` forward,
# which stays valid as long as the machine's clock has caught up with it.
CATALOG_READ = date(2026, 11, 25)
NOT_AFTER = max(date.today(), CATALOG_READ)


@pytest.fixture(scope="module")
def document():
    return read_catalog_document()


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return load_prices()


def _sample() -> dict:
    """A small, valid catalog document to break on purpose."""
    return {
        "currency": "USD",
        "caveats": ["sample"],
        "acme": {
            "region": "us-east-1",
            "plans": {
                "pro": {
                    "price": 20,
                    "unit": "month",
                    "source": "https://acme.example/pricing",
                    "read": date(2026, 11, 1),
                },
                "enterprise": {
                    "price": None,
                    "unit": "month",
                    "note": "custom",
                    "source": "https://acme.example/pricing",
                    "read": "2026-11-01",
                },
            },
        },
    }


# --- the packaged catalog ---------------------------------------------------------


def test_packaged_catalog_has_no_problems(document):
    assert check_catalog(document, not_after=NOT_AFTER) == []


def test_every_entry_is_priced_sourced_and_dated(catalog):
    assert len(catalog) > 50
    for entry in catalog.entries():
        assert isinstance(entry, PriceEntry)
        assert entry.price is None or isinstance(entry.price, float), entry.key
        assert entry.price is None or entry.price >= 0, entry.key
        assert entry.unit.strip(), entry.key
        assert entry.source.startswith("https://"), entry.key
        assert isinstance(entry.read, date), entry.key
        assert entry.read <= NOT_AFTER, entry.key
        if entry.price is None:
            assert entry.note, f"{entry.key}: a null price must say why"
        via = entry.extra.get("via")
        assert via is None or via.startswith("https://"), entry.key


def test_catalog_metadata(catalog):
    assert catalog.currency == "USD"
    assert any("us-east-1" in c for c in catalog.caveats)


def test_load_prices_is_cached(catalog):
    assert load_prices() is catalog
    assert CATALOG_PATH.name == "prices.yaml" and CATALOG_PATH.is_file()


# --- the checker itself, on broken samples ----------------------------------------


def test_sample_is_valid():
    assert check_catalog(_sample(), not_after=CATALOG_READ) == []
    parsed = parse_catalog(_sample())
    assert parsed.get("acme.plans.pro").price == 20.0
    assert parsed.get("acme.plans.pro").extra["region"] == "us-east-1"
    assert parsed.get("acme.plans.enterprise").read == date(2026, 11, 1)


@pytest.mark.parametrize("missing", ["source", "read", "unit", "price"])
def test_checker_fails_when_a_field_is_missing(missing):
    doc = _sample()
    del doc["acme"]["plans"]["pro"][missing]
    problems = check_catalog(doc)
    assert problems, f"an entry without {missing} passed"
    assert any(p.startswith("acme.plans.pro:") and missing in p for p in problems), problems
    with pytest.raises(PriceCatalogError) as info:
        parse_catalog(doc)
    assert "acme.plans.pro" in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("source", "http://acme.example/pricing", "https"),
        ("source", "", "no source"),
        ("read", "last tuesday", "ISO date"),
        ("read", "2026-13-40", "ISO date"),
        ("read", None, "no read date"),
        ("price", "twenty", "not a number"),
        ("price", True, "not a number"),
        ("price", -1, "negative"),
        ("price", float("nan"), "not finite"),
        ("unit", "  ", "no unit"),
        ("via", "ftp://mirror.example", "https"),
    ],
)
def test_checker_rejects_bad_values(field, value, words):
    doc = _sample()
    doc["acme"]["plans"]["pro"][field] = value
    problems = check_catalog(doc)
    assert any(words in p for p in problems), problems


def test_checker_rejects_future_read_dates():
    doc = _sample()
    doc["acme"]["plans"]["pro"]["read"] = date(2030, 1, 1)
    assert check_catalog(doc) == []  # no clock given: loading never depends on it
    problems = check_catalog(doc, not_after=CATALOG_READ)
    assert any("in the future" in p for p in problems), problems


def test_checker_requires_a_note_for_null_prices():
    doc = _sample()
    del doc["acme"]["plans"]["enterprise"]["note"]
    assert any("null" in p and "note" in p for p in check_catalog(doc))


def test_checker_rejects_stray_scalars_and_empty_groups():
    doc = _sample()
    doc["acme"]["plans"]["basic"] = 9  # a price without its entry around it
    doc["acme"]["empty"] = {}
    doc["currency"] = "EUR"
    problems = check_catalog(doc)
    assert any(p.startswith("acme.plans.basic:") for p in problems), problems
    assert any("empty group" in p for p in problems), problems
    assert any(p.startswith("currency:") for p in problems), problems


def test_checker_detects_colliding_dotted_keys():
    doc = _sample()
    entry = copy.deepcopy(doc["acme"]["plans"]["pro"])
    doc["acme"]["x.y"] = copy.deepcopy(entry)
    doc["acme"]["x"] = {"y": copy.deepcopy(entry)}
    assert any("collides" in p for p in check_catalog(doc))


def test_checker_lists_every_problem_not_just_the_first():
    doc = _sample()
    del doc["acme"]["plans"]["pro"]["source"]
    del doc["acme"]["plans"]["enterprise"]["read"]
    problems = check_catalog(doc)
    assert len(problems) >= 2
    with pytest.raises(PriceCatalogError) as info:
        parse_catalog(doc)
    assert len(info.value.problems) == len(problems)


# --- lookups ----------------------------------------------------------------------


def test_get_unknown_key_names_the_closest_keys(catalog):
    with pytest.raises(KeyError) as info:
        catalog.get("supabase.compute.smal")
    assert isinstance(info.value, PriceKeyError)
    assert "supabase.compute.small" in info.value.suggestions
    assert "supabase.compute.small" in str(info.value)


def test_get_on_a_group_lists_its_entries(catalog):
    with pytest.raises(PriceKeyError) as info:
        catalog.get("supabase.pitr")
    assert "supabase.pitr.pitr_7" in info.value.suggestions
    assert "group" in str(info.value)


def test_entries_iterate_with_dotted_keys(catalog):
    keys = [e.key for e in catalog.entries()]
    assert len(keys) == len(set(keys)) == len(catalog)
    assert "aws.elasticache.node_hour.cache.t4g.micro" in keys
    assert [e.key for e in catalog.entries("supabase.pitr")] == [
        "supabase.pitr.pitr_7",
        "supabase.pitr.pitr_14",
        "supabase.pitr.pitr_28",
    ]


def test_group_keys_by_the_rest_of_the_key(catalog):
    nodes = catalog.group("aws.elasticache.node_hour")
    assert nodes["cache.t4g.micro"].name == "cache.t4g.micro"
    assert set(catalog.group("supabase.compute")) == {
        "nano",
        "micro",
        "small",
        "medium",
        "large",
        "xlarge",
        "2xlarge",
        "4xlarge",
        "8xlarge",
        "12xlarge",
        "16xlarge",
    }
    with pytest.raises(KeyError):
        catalog.group("supabase.nothing")


def test_region_is_inherited_and_global_services_say_so(catalog):
    assert catalog.get("aws.s3.storage.standard").extra["region"] == "us-east-1"
    assert catalog.get("aws.budgets.budget").extra["region"] == "global"
    assert catalog.get("aws.iam").extra["region"] == "global"


# --- spot checks against PROVIDERS.md ---------------------------------------------

SPOT_CHECKS = {
    "vercel.plans.hobby": 0,
    "vercel.plans.pro": 20,
    "vercel.overage.fast_data_transfer_gb": 0.15,
    "supabase.plans.free": 0,
    "supabase.plans.pro": 25,
    "supabase.plans.team": 599,
    "supabase.compute.micro": 10,
    "supabase.compute.small": 15,
    "supabase.compute.medium": 60,
    "supabase.compute.large": 110,
    "supabase.compute.xlarge": 210,
    "supabase.compute.2xlarge": 410,
    "supabase.compute.4xlarge": 960,
    "supabase.compute.8xlarge": 1870,
    "supabase.compute.12xlarge": 2800,
    "supabase.compute.16xlarge": 3730,
    "supabase.disk.gp3_gb": 0.125,
    "supabase.egress.uncached_gb": 0.09,
    "supabase.pitr.pitr_7": 100,
    "supabase.pitr.pitr_14": 200,
    "supabase.pitr.pitr_28": 400,
    "aws.s3.storage.standard": 0.023,
    "aws.s3.replication.transfer_gb": 0.02,
    "aws.elasticache.node_hour.cache.t4g.micro": 0.016,
    "aws.elasticache.node_hour.cache.t4g.small": 0.032,
    "aws.elasticache.node_hour.cache.t4g.medium": 0.065,
    "aws.elasticache.node_hour.cache.r7g.large": 0.219,
    "aws.elasticache.serverless.redis_data_gb_hour": 0.125,
    "aws.elasticache.serverless.redis_ecpu_million": 0.0034,
    "aws.cloudwatch.alarm_standard": 0.10,
    "aws.budgets.budget": 0,
    "aws.iam": 0,
    "upstash.redis.payg_100k_commands": 0.20,
}


@pytest.mark.parametrize(("key", "expected"), sorted(SPOT_CHECKS.items()))
def test_spot_check_against_providers_md(catalog, key, expected):
    assert catalog.get(key).price == pytest.approx(expected)


def test_custom_plans_have_no_price(catalog):
    for key in ("vercel.plans.enterprise", "supabase.plans.enterprise"):
        entry = catalog.get(key)
        assert entry.price is None and entry.is_custom
        assert "custom" in (entry.note or "")


def test_plan_inclusions(catalog):
    assert catalog.get("vercel.plans.pro").extra["includes"]["fast_data_transfer_gb"] == 1000
    assert catalog.get("vercel.plans.pro").unit == "seat-month"
    pro = catalog.get("supabase.plans.pro").extra["includes"]
    assert (pro["compute_credit"], pro["disk_gb"], pro["egress_gb"]) == (10, 8, 250)
    assert catalog.get("supabase.disk.gp3_gb").extra["included_gb"] == 8


def test_supabase_hourly_rates_match_the_monthly_figures(catalog):
    for name, entry in catalog.group("supabase.compute").items():
        if name == "nano":
            continue
        monthly_from_hourly = entry.extra["hourly"] * 730
        assert monthly_from_hourly == pytest.approx(entry.price, rel=0.03), name


def test_read_replica_rule(catalog):
    compute = catalog.get("supabase.read_replica.compute")
    assert compute.price is None
    assert compute.extra["basis"] == "same_as_primary_compute"
    assert compute.extra["compute_credit_applies"] is False
    disk = catalog.get("supabase.read_replica.disk_gb")
    assert disk.extra["disk_multiplier"] == 1.25
    assert disk.extra["included_gb"] == 0
    assert disk.price == catalog.get("supabase.disk.gp3_gb").price


def test_pitr_is_100_per_7_days(catalog):
    for entry in catalog.entries("supabase.pitr"):
        assert entry.price == pytest.approx(100 * entry.extra["retention_days"] / 7)


def test_cross_region_transfer_figures_agree(catalog):
    base = catalog.price("aws.data_transfer.inter_region_gb")
    assert catalog.price("aws.s3.replication.transfer_gb") == base
    assert catalog.price("aws.elasticache.global_datastore.transfer_gb") == base


def test_node_types_the_stacks_may_use_are_all_priced(catalog):
    nodes = catalog.group("aws.elasticache.node_hour")
    for node in (
        "cache.t4g.micro",
        "cache.t4g.small",
        "cache.t4g.medium",
        "cache.m7g.large",
        "cache.r7g.large",
        "cache.r7g.xlarge",
    ):
        assert node in nodes
    # Global datastores need size large or above.
    assert all(not n.extra.get("global_datastore") for k, n in nodes.items() if "t4g" in k)
    assert nodes["cache.r7g.large"].extra["global_datastore"] is True


def test_s3_storage_classes_cheapen_in_order(catalog):
    classes = catalog.group("aws.s3.storage")
    order = ["standard", "standard_ia", "onezone_ia", "glacier_ir", "glacier_flexible"]
    prices = [classes[c].price for c in [*order, "deep_archive"]]
    assert prices == sorted(prices, reverse=True)
    assert classes["glacier_flexible"].extra["storage_class"] == "GLACIER"


def test_free_things_are_free(catalog):
    assert catalog.price("aws.budgets.budget") == 0
    assert catalog.get("aws.budgets.action_enabled_budget").extra["free_budget_days"] == 62
    assert catalog.get("aws.cloudwatch.alarm_standard").extra["free_tier"] == 10
    assert catalog.price("aws.iam") == 0


def test_uncertain_figures_say_so(catalog):
    for key in (
        "supabase.pitr.pitr_28",
        "aws.elasticache.global_datastore.surcharge",
        "aws.elasticache.global_datastore.transfer_gb",
    ):
        assert "uncertain" in (catalog.get(key).note or "").lower(), key


# --- the hot path -----------------------------------------------------------------


def test_import_is_light_and_loading_pulls_in_only_yaml():
    code = (
        "import sys\n"
        "import floyo_scale.catalog.prices as p\n"
        "assert 'yaml' not in sys.modules, 'yaml imported at import time'\n"
        "c = p.load_prices()\n"
        "heavy = [m for m in ('pydantic', 'pulumi', 'pulumi_aws', 'typer', 'rich', 'boto3')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(len(c))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(load_prices())
