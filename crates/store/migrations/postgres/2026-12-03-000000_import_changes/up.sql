-- What each committed batch of an import changed, so that RevertImport can undo it: the codes
-- it created, and for the records it updated the values it overwrote (only the fields that
-- changed). `written_at` is the updated_at the batch gave its records: a record whose
-- updated_at differs was changed after the import. RevertImport rewrites a row to what it left
-- alone (conflicts, referenced customers) and deletes it once nothing is left.
CREATE TABLE import_changes (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL,
    module TEXT NOT NULL,
    written_at TIMESTAMP NOT NULL,
    -- JSON array of codes.
    created TEXT NOT NULL,
    -- JSON object: code -> {field key: the value before the import, null for empty}.
    updated TEXT NOT NULL,
    entries BIGINT NOT NULL
);
CREATE INDEX import_changes_job_idx ON import_changes (job_id, id);
