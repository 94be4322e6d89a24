-- authgate's tables, in schema {schema}. Run by `PgDatabase::migrate`, or
-- by your own migration tool with {schema} replaced. Idempotent.
--
-- Every change that matters to a verifier (not last_used_at) notifies the
-- channels authgate_keys_{schema} / authgate_hmac_{schema} with the id, so
-- that every instance drops its cached copy at once, whoever changed the
-- row (authgate, a migration, an operator in psql).

CREATE SCHEMA IF NOT EXISTS "{schema}";

CREATE TABLE IF NOT EXISTS "{schema}".authgate_api_keys (
    id             text PRIMARY KEY,
    prefix         text NOT NULL,
    secret_sha256  bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
    owner          text NOT NULL,
    scopes         text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    revoked        boolean NOT NULL DEFAULT false,
    retires_at     timestamptz,
    last_used_at   timestamptz
);

-- Added in 0.2: the key's plan (rate-limit quota), NULL for the default.
ALTER TABLE "{schema}".authgate_api_keys ADD COLUMN IF NOT EXISTS plan text;

CREATE INDEX IF NOT EXISTS authgate_api_keys_owner ON "{schema}".authgate_api_keys (owner);

CREATE TABLE IF NOT EXISTS "{schema}".authgate_hmac_keys (
    key_id      text PRIMARY KEY,
    owner       text NOT NULL,
    scopes      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked     boolean NOT NULL DEFAULT false
);

-- The shared secrets themselves (HMAC needs them, not a hash): grant this
-- table to the service's role only.
CREATE TABLE IF NOT EXISTS "{schema}".authgate_hmac_secrets (
    key_id      text NOT NULL REFERENCES "{schema}".authgate_hmac_keys (key_id) ON DELETE CASCADE,
    secret      bytea NOT NULL CHECK (octet_length(secret) > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    retires_at  timestamptz
);

CREATE INDEX IF NOT EXISTS authgate_hmac_secrets_key_id ON "{schema}".authgate_hmac_secrets (key_id);

CREATE OR REPLACE FUNCTION "{schema}".authgate_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := row_to_json(OLD) ->> TG_ARGV[1];
    ELSE
        changed := row_to_json(NEW) ->> TG_ARGV[1];
    END IF;
    PERFORM pg_notify(TG_ARGV[0] || '_' || TG_TABLE_SCHEMA, changed);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS authgate_api_keys_changed ON "{schema}".authgate_api_keys;
CREATE TRIGGER authgate_api_keys_changed
    AFTER INSERT OR DELETE OR UPDATE OF prefix, secret_sha256, owner, scopes, expires_at, revoked, retires_at, plan
    ON "{schema}".authgate_api_keys
    FOR EACH ROW EXECUTE FUNCTION "{schema}".authgate_notify_change('authgate_keys', 'id');

DROP TRIGGER IF EXISTS authgate_hmac_keys_changed ON "{schema}".authgate_hmac_keys;
CREATE TRIGGER authgate_hmac_keys_changed
    AFTER INSERT OR UPDATE OR DELETE ON "{schema}".authgate_hmac_keys
    FOR EACH ROW EXECUTE FUNCTION "{schema}".authgate_notify_change('authgate_hmac', 'key_id');

DROP TRIGGER IF EXISTS authgate_hmac_secrets_changed ON "{schema}".authgate_hmac_secrets;
CREATE TRIGGER authgate_hmac_secrets_changed
    AFTER INSERT OR UPDATE OR DELETE ON "{schema}".authgate_hmac_secrets
    FOR EACH ROW EXECUTE FUNCTION "{schema}".authgate_notify_change('authgate_hmac', 'key_id');
