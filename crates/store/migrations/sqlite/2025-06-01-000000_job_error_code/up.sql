-- Why a job failed as a whole (HEADER_MISMATCH, FILE_TOO_LARGE, ...), next to its message.
ALTER TABLE import_jobs ADD COLUMN error_code TEXT;
