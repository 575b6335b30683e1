-- The last source row whose fate is final: advanced in the same transaction as each batch,
-- so a job's counters and watermark always equal what the database holds.
ALTER TABLE import_jobs ADD COLUMN watermark BIGINT NOT NULL DEFAULT 0;
