-- Who did what, for security review: import starts and ends, exports (with their exact filter
-- and row count), template and error-file downloads, token creation and revocation, and bursts
-- of failed authentication. Append-only; `serve --audit-retention-days` prunes old entries.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    -- What happened: import.start, import.end, export, template, error_file, token.create,
    -- token.revoke, auth.failure.
    event TEXT NOT NULL,
    -- The gRPC method (Import, Export, ...) or the CLI command (token create).
    rpc TEXT NOT NULL,
    -- The acting token's name; NULL for failed authentication.
    token_name TEXT,
    -- The client's IP address; `local` for CLI commands that open the database directly.
    peer TEXT,
    module TEXT,
    -- Exports: the request's filter as proto3 JSON, exactly as received.
    filter TEXT,
    job_id BIGINT,
    rows BIGINT,
    bytes BIGINT,
    -- Outcome and particulars (status, file name, format, failure count and reason...).
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
