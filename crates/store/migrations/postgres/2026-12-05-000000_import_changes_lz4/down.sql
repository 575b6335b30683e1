DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_settings
        WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)
    ) THEN
        ALTER TABLE import_changes
            ALTER COLUMN created SET COMPRESSION DEFAULT,
            ALTER COLUMN updated SET COMPRESSION DEFAULT;
    END IF;
END
$$;
