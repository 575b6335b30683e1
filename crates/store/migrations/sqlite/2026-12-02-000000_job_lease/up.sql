-- Which server instance runs a RUNNING job, and until when its lease holds (Unix milliseconds
-- of the DATABASE clock, so replicas never compare their own clocks). The owner renews the
-- lease; every batch checks it owns the job; an expired lease lets any replica interrupt it.
ALTER TABLE import_jobs ADD COLUMN owner TEXT;
ALTER TABLE import_jobs ADD COLUMN lease_expires_ms BIGINT;
CREATE INDEX import_jobs_running_leases ON import_jobs (lease_expires_ms) WHERE status = 'running';
-- CancelImport through any replica. A row of its own, not a flag on the job: inserting it never
-- waits for the lock an all-or-nothing transaction holds on its job's row. The owner sees it
-- at its next batch or lease renewal.
CREATE TABLE import_cancel_requests (
    job_id BIGINT PRIMARY KEY REFERENCES import_jobs (id) ON DELETE CASCADE,
    requested_at TIMESTAMP NOT NULL
);
