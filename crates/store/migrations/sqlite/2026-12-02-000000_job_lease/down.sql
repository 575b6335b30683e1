DROP TABLE import_cancel_requests;
DROP INDEX import_jobs_running_leases;
ALTER TABLE import_jobs DROP COLUMN lease_expires_ms;
ALTER TABLE import_jobs DROP COLUMN owner;
