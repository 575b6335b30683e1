ALTER TABLE import_jobs DROP COLUMN error_code;
