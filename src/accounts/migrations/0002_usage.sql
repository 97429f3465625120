-- The usage ledger: per day (UTC, YYYY-MM-DD), user, key (empty for a configured token), model,
-- client format, endpoint and status, the requests answered and their tokens.
CREATE TABLE usage_daily (
    day TEXT NOT NULL,
    user_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    model TEXT NOT NULL,
    client TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    PRIMARY KEY (day, user_name, key_id, model, client, endpoint, status)
);
CREATE INDEX usage_by_day ON usage_daily (day);
-- Each batch of totals an instance writes, by its id: a batch written once and retried (its
-- commit's answer lost) is found here and not added again.
CREATE TABLE ledger_batches (
    id TEXT PRIMARY KEY,
    written_at BIGINT NOT NULL
);
