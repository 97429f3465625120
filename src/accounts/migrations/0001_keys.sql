-- Issued keys. Only a key's SHA-256 is stored; the key itself is printed once when it is made.
-- Times are Unix seconds. Portable SQL: the same text runs on SQLite and PostgreSQL.
CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX keys_by_user ON keys (user_name);
