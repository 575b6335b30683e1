ALTER TABLE import_jobs DROP COLUMN resume_state;
ALTER TABLE import_jobs DROP COLUMN resume_row;
ALTER TABLE import_jobs DROP COLUMN resume_offset;
