-- When a token stops being accepted (UTC, like every timestamp here); NULL: it never expires.
-- Set once at creation (`dataport token create --expires-in`).
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMP;
