-- +goose Up
-- Sliding-window counters of user.RateLimiter (failed logins per client IP).
-- One row per key holding its newest events, oldest first. expires_at is
-- when the newest event leaves the window: after it the row counts nothing
-- and RateLimiter.DeleteExpired may drop it.
CREATE TABLE rate_limits (
    key        text PRIMARY KEY,
    events     timestamptz[] NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX rate_limits_expires_idx ON rate_limits (expires_at);
