"""Work inside the stack's PostgreSQL databases: partitioning, archiving, restoring (and, from
the shards issue, moving rows between shards).

The modules here talk to PostgreSQL with psycopg 3 (and ADBC for the archive's read) and to
S3 with botocore; they never print and never exit (progress goes to a
floyo_scale.progress.Reporter as Steps and Counts, never text; failures are FloyoError
subclasses). Shared pieces:

- `connect`: which databases a command works on (one per shard), connecting to them, and
  keeping passwords out of every message (`redact_url`).
- `sql`: identifiers quoted with psycopg.sql, never by string formatting.

The operations, each an entry module over its parts (no module over 600 lines):
`partition` (over `periods`, `shape`, `convert`), `archive` (over `s3`, `journal`, `manifest`,
`export`, `archive_checks`, `archive_drop`) and `restore`, `shards` (over `shard_plan`),
`migrate` (over `replication`), `advise` (over `advice`, `advise_checks`, `advise_scan`) and
`advise_apply`.

Layer "db" (docs/architecture.md): may import errors, catalog, sharding, spec, psycopg,
pyarrow, boto3; never engine, render or cli.
"""

from .connect import (
    DatabaseError,
    Shard,
    connect,
    redact_url,
    resolve_shards,
)

__all__ = ["DatabaseError", "Shard", "connect", "redact_url", "resolve_shards"]
