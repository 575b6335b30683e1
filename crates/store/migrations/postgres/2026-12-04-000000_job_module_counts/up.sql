-- A workbook job (`--module all`) keeps each sheet's counts beside its totals: a JSON list of
-- {module, sheet, rows_read, created, updated, skipped, failed}, written with the totals (in
-- each batch's transaction, and when the job ends). NULL for a one-module job.
ALTER TABLE import_jobs ADD COLUMN module_counts TEXT;
