DROP INDEX import_jobs_request_id;
ALTER TABLE import_jobs DROP COLUMN attempts;
ALTER TABLE import_jobs DROP COLUMN request_fingerprint;
ALTER TABLE import_jobs DROP COLUMN request_id;
