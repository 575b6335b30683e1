-- Idempotent imports: the client's key, a fingerprint of the parameters it came with, and how
-- many Import streams the job has run in (1 + resumes). Keys are unique while kept.
ALTER TABLE import_jobs ADD COLUMN request_id TEXT;
ALTER TABLE import_jobs ADD COLUMN request_fingerprint TEXT;
ALTER TABLE import_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX import_jobs_request_id ON import_jobs (request_id);
