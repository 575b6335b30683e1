ALTER TABLE import_jobs DROP COLUMN module_counts;
