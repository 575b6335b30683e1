-- Where a resumable reader stood after the job's last committed batch (its checkpoint): the
-- byte offset the next attempt's upload may start at, the number of the row found there, and
-- the reader's own opaque state. Advanced with the watermark, in each batch's transaction.
ALTER TABLE import_jobs ADD COLUMN resume_offset BIGINT;
ALTER TABLE import_jobs ADD COLUMN resume_row BIGINT;
ALTER TABLE import_jobs ADD COLUMN resume_state BLOB;
