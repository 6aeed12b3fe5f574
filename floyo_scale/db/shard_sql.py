"""The `_floyo` schema `db shards apply` installs on every shard: the layout, the moved-out
list, the journal, the watermark's log, the shard function in SQL and the write fence
(docs/sharding.md)."""

from __future__ import annotations

SETUP_SQL = r"""
CREATE SCHEMA IF NOT EXISTS _floyo;
CREATE TABLE IF NOT EXISTS _floyo.layout (
  one bool PRIMARY KEY DEFAULT true CHECK (one),
  algorithm text NOT NULL, shards int NOT NULL, shard int NOT NULL);
CREATE TABLE IF NOT EXISTS _floyo.moved_out (key text PRIMARY KEY, shard int NOT NULL);
CREATE TABLE IF NOT EXISTS _floyo.shard_move (
  id bigserial PRIMARY KEY, algorithm text NOT NULL,
  from_shards int NOT NULL, to_shards int NOT NULL, step text NOT NULL,
  keys_moved bigint NOT NULL DEFAULT 0, rows_moved bigint NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz);
-- while a move runs, the shard count it moves to; the fence logs each key written here that
-- the new layout gives another shard (the final step moves those, not a rescan)
ALTER TABLE _floyo.layout ADD COLUMN IF NOT EXISTS moving_to int;
CREATE TABLE IF NOT EXISTS _floyo.late_keys (key text PRIMARY KEY);

CREATE OR REPLACE FUNCTION _floyo.key_text(k text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN k ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              THEN lower(k) ELSE k END
$$;

-- jump-sha256-v1 (docs/sharding.md), in SQL: the fence checks writes with it.
CREATE OR REPLACE FUNCTION _floyo.shard_for(k text, buckets int) RETURNS int
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  h numeric := ('x' || encode(substring(sha256(convert_to(_floyo.key_text(k), 'UTF8'))
                from 1 for 8), 'hex'))::bit(64)::bigint;
  b bigint := -1;
  j bigint := 0;
BEGIN
  IF h < 0 THEN h := h + 18446744073709551616; END IF;
  WHILE j < buckets LOOP
    b := j;
    h := mod(h * 2862933555777941757 + 1, 18446744073709551616);
    j := floor((b + 1)::float8 * (2147483648::float8 / (floor(h / 8589934592) + 1)::float8));
  END LOOP;
  RETURN b;
END $$;

-- The fence's check of one key written on this shard. It never waits: while `db shards apply`
-- holds the key (moving it), and once the key has moved, it raises FLY01; when the recorded
-- layout gives the key another shard, FLY02. Otherwise the key stays locked (shared) until the
-- writer's transaction ends, so the mover cannot take its rows away meanwhile. True when the
-- key should be logged for the final step (a move is running and gives the key another shard).
CREATE OR REPLACE FUNCTION _floyo.check_key(k text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  gone int;
  lay record;
BEGIN
  IF NOT pg_try_advisory_xact_lock_shared(7236913, hashtext(k)) THEN
    RAISE EXCEPTION 'floyo: key % is moving to another shard', k
      USING ERRCODE = 'FLY01',
            HINT = 'route again by _floyo.layout on shard 0 and retry (docs/sharding.md)';
  END IF;
  SELECT shard INTO gone FROM _floyo.moved_out WHERE key = k;
  IF FOUND THEN
    RAISE EXCEPTION 'floyo: key % has moved to shard %', k, gone
      USING ERRCODE = 'FLY01', HINT = 'route by _floyo.layout on shard 0 (docs/sharding.md)';
  END IF;
  SELECT shards, shard, moving_to INTO lay FROM _floyo.layout;
  IF FOUND AND _floyo.shard_for(k, lay.shards) <> lay.shard THEN
    RAISE EXCEPTION 'floyo: key % belongs to shard % of %, not to shard %',
      k, _floyo.shard_for(k, lay.shards), lay.shards, lay.shard
      USING ERRCODE = 'FLY02', HINT = 'route by _floyo.layout on shard 0 (docs/sharding.md)';
  END IF;
  RETURN FOUND AND lay.moving_to IS NOT NULL AND _floyo.shard_for(k, lay.moving_to) <> lay.shard;
END $$;

-- The row fence (BEFORE INSERT OR UPDATE and AFTER DELETE, FOR EACH ROW, on every keyed
-- table). Its triggers' WHEN skips it for the mover's own sessions (floyo.moving = 'on'), so
-- the rows `db shards apply` copies and deletes pay nothing.
CREATE OR REPLACE FUNCTION _floyo.fence() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  raw text;
  k text;
BEGIN
  IF current_setting('floyo.moving', true) = 'on' THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP = 'DELETE' THEN
    raw := to_jsonb(OLD) ->> TG_ARGV[0];
  ELSE
    raw := to_jsonb(NEW) ->> TG_ARGV[0];
  END IF;
  k := _floyo.key_text(raw);
  IF k IS NOT NULL AND _floyo.check_key(k) AND TG_OP <> 'DELETE' THEN
    INSERT INTO _floyo.late_keys (key) VALUES (raw) ON CONFLICT DO NOTHING;
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

-- The statement fence (BEFORE UPDATE OR DELETE, FOR EACH STATEMENT): an UPDATE or DELETE that
-- matches no row fires no row trigger, so a routed write whose key moved away would hit 0 rows
-- and say nothing. The app names the key its write is routed by (`floyo.key`, set with
-- set_config(..., true) in the write's transaction) and this checks it before any row is read.
CREATE OR REPLACE FUNCTION _floyo.fence_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM _floyo.check_key(_floyo.key_text(current_setting('floyo.key')));
  RETURN NULL;
END $$;
"""
