"""floyo_scale.db.connect: where connections come from; passwords never in messages."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from floyo_scale.db.connect import (
    DatabaseError,
    Shard,
    connect,
    redact_url,
    resolve_shards,
)
from floyo_scale.errors import UsageError


def test_redact_url_hides_the_password_only() -> None:
    assert (
        redact_url(
            "postgresql://postgres:s3cr%40t@db.abc.supabase.co:5432/postgres?sslmode=require"
        )
        == "postgresql://postgres:[secret]@db.abc.supabase.co:5432/postgres?sslmode=require"
    )
    assert redact_url("postgresql://u@h/db?password=x&sslmode=require") == (
        "postgresql://u@h/db?password=[secret]&sslmode=require"
    )
    assert (
        redact_url("host=h user=u password='a b' dbname=d")
        == "host=h user=u password=[secret] dbname=d"
    )


@given(st.text(alphabet=st.characters(codec="ascii", exclude_characters="@/?#"), min_size=4))
def test_no_password_survives_redaction(password: str) -> None:
    from urllib.parse import quote

    url = f"postgresql://postgres:{quote(password, safe='')}@h:5432/postgres"
    shard = Shard(0, url, "test")
    assert quote(password, safe="") not in redact_url(url)
    assert password not in shard.scrub(f"error with {url} and {password}")


def test_database_url_wins_and_expands_env_references() -> None:
    shards = resolve_shards(
        2,
        database_urls=["postgresql://a:pw@h/a", "${env:SHARD_ONE}"],
        env={"SHARD_ONE": "postgresql://b:pw@h/b"},
        outputs=lambda: pytest.fail("outputs read though --database-url was given"),
    )
    assert [s.url for s in shards] == ["postgresql://a:pw@h/a", "postgresql://b:pw@h/b"]
    assert "SHARD_ONE" in shards[1].source


def test_missing_env_reference_names_it() -> None:
    with pytest.raises(UsageError, match=r"\$\{env:NOPE\}, which is not set"):
        resolve_shards(1, database_urls=["${env:NOPE}"], env={})


def test_one_url_per_shard() -> None:
    with pytest.raises(UsageError, match="has 2 shards but --database-url was given 1 time"):
        resolve_shards(2, database_urls=["postgresql://h/db"], stack_name="stack scale")


def test_not_a_url_is_a_usage_error_without_the_secret() -> None:
    with pytest.raises(UsageError) as err:
        resolve_shards(1, database_urls=["hunter2"])
    assert "hunter2" not in f"{err.value} {err.value.hint}"


def test_stack_outputs_give_each_shards_direct_connection() -> None:
    outputs = {
        "database_direct_urls": ["postgresql://p:x@db.a/postgres", "postgresql://p:y@db.b/postgres"]
    }
    shards = resolve_shards(2, outputs=lambda: outputs)
    assert [s.index for s in shards] == [0, 1]
    assert shards[1].label == "shard 1 (postgresql://p:[secret]@db.b/postgres)"
    with pytest.raises(UsageError, match="has no `database_direct_urls` output"):
        resolve_shards(1, outputs=lambda: {})
    with pytest.raises(UsageError, match="phase has 3 shard"):
        resolve_shards(3, outputs=lambda: outputs)
    with pytest.raises(UsageError, match="no database connection"):
        resolve_shards(1)


def test_connect_failure_never_shows_the_password(pg_server: object) -> None:
    url = pg_server.url("postgres").replace("postgres:@", "postgres:Sup3rS3cret@")  # type: ignore[attr-defined]
    url = url.replace("/postgres?", "/no_such_database?")
    with pytest.raises(DatabaseError) as err:
        connect(Shard(0, url, "test"))
    assert "Sup3rS3cret" not in str(err.value)
    assert "no_such_database" in str(err.value)


def test_connect_works(pg_database: str) -> None:
    with connect(Shard(0, pg_database, "test")) as conn:
        assert isinstance(conn, psycopg.Connection)
        row = conn.execute("SHOW application_name").fetchone()
        assert row == ("floyo-scale",)


def test_every_session_shows_values_the_same_way(pg_server: object) -> None:
    """The database's own TimeZone/DateStyle/extra_float_digits do not reach our sessions,
    and options the URL gives are kept."""
    url = pg_server.create_database()  # type: ignore[attr-defined]
    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(f"ALTER DATABASE {name} SET timezone = 'Pacific/Auckland'")
        conn.execute(f"ALTER DATABASE {name} SET datestyle = 'SQL, DMY'")
        conn.execute(f"ALTER DATABASE {name} SET extra_float_digits = 0")
    sep = "&" if "?" in url else "?"
    with connect(Shard(0, f"{url}{sep}options=-c%20work_mem%3D7MB", "test")) as conn:
        shown = conn.execute(
            "SELECT current_setting('TimeZone'), current_setting('DateStyle'), "
            "current_setting('extra_float_digits'), current_setting('work_mem'), "
            "'2026-01-02 03:04:05+00'::timestamptz::text, 0.1::float8::text"
        ).fetchone()
    assert shown == ("UTC", "ISO, MDY", "3", "7MB", "2026-01-02 03:04:05+00", "0.1")
