-- dataport schema, PostgreSQL flavour. Keep in step with ../../sqlite and src/schema.rs.
-- Business keys use the "C" collation: byte order, as on SQLite, so keyset export pages and
-- their ORDER BY agree across backends whatever the database locale is.

CREATE TABLE customers (
    id BIGSERIAL PRIMARY KEY,
    code TEXT COLLATE "C" NOT NULL UNIQUE,
    name TEXT NOT NULL,
    industry TEXT,
    phone TEXT,
    owner TEXT NOT NULL,
    level TEXT,
    follow_up_status TEXT,
    address TEXT,
    contract_amount_cents BIGINT,
    follow_up_notes TEXT,
    remarks TEXT,
    created_at DATE NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX customers_owner_idx ON customers (owner);
CREATE INDEX customers_level_idx ON customers (level);

CREATE TABLE contacts (
    id BIGSERIAL PRIMARY KEY,
    code TEXT COLLATE "C" NOT NULL UNIQUE,
    customer_code TEXT COLLATE "C" NOT NULL REFERENCES customers (code),
    name TEXT NOT NULL,
    title TEXT,
    phone TEXT,
    email TEXT,
    is_primary BOOLEAN,
    remarks TEXT,
    created_at DATE NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX contacts_customer_code_idx ON contacts (customer_code);

CREATE TABLE opportunities (
    id BIGSERIAL PRIMARY KEY,
    code TEXT COLLATE "C" NOT NULL UNIQUE,
    customer_code TEXT COLLATE "C" NOT NULL REFERENCES customers (code),
    name TEXT NOT NULL,
    stage TEXT,
    amount_cents BIGINT,
    expected_close_date DATE,
    owner TEXT,
    remarks TEXT,
    created_at DATE NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX opportunities_customer_code_idx ON opportunities (customer_code);
CREATE INDEX opportunities_owner_idx ON opportunities (owner);
CREATE INDEX opportunities_stage_idx ON opportunities (stage);

CREATE TABLE import_jobs (
    id BIGSERIAL PRIMARY KEY,
    module TEXT NOT NULL,
    format TEXT NOT NULL,
    mode TEXT NOT NULL,
    on_error TEXT NOT NULL,
    dry_run BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    rows_read BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    bytes_read BIGINT NOT NULL DEFAULT 0,
    file_name TEXT NOT NULL,
    declared_size BIGINT,
    file_size BIGINT,
    sha256 TEXT,
    token_name TEXT NOT NULL,
    error_message TEXT,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX import_jobs_started_at_idx ON import_jobs (started_at);

CREATE TABLE import_row_errors (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL REFERENCES import_jobs (id),
    "row" BIGINT NOT NULL,
    column_label TEXT NOT NULL,
    field TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    raw_value TEXT,
    row_data TEXT
);
CREATE INDEX import_row_errors_job_row_idx ON import_row_errors (job_id, "row");

CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
-- A name is unique among active tokens, so a revoked token's name can be reused.
CREATE UNIQUE INDEX api_tokens_active_name_idx ON api_tokens (name) WHERE revoked_at IS NULL;
