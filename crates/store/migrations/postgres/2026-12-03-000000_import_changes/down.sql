DROP TABLE import_changes;
