//! The one diesel schema both backends share. The migrations under `migrations/{sqlite,postgres}`
//! create exactly these tables; only the id column's DDL differs (rowid alias vs BIGSERIAL).

diesel::table! {
    customers (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        industry -> Nullable<Text>,
        phone -> Nullable<Text>,
        owner -> Text,
        level -> Nullable<Text>,
        follow_up_status -> Nullable<Text>,
        address -> Nullable<Text>,
        contract_amount_cents -> Nullable<BigInt>,
        follow_up_notes -> Nullable<Text>,
        remarks -> Nullable<Text>,
        created_at -> Date,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    contacts (id) {
        id -> BigInt,
        code -> Text,
        customer_code -> Text,
        name -> Text,
        title -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        is_primary -> Nullable<Bool>,
        remarks -> Nullable<Text>,
        created_at -> Date,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    opportunities (id) {
        id -> BigInt,
        code -> Text,
        customer_code -> Text,
        name -> Text,
        stage -> Nullable<Text>,
        amount_cents -> Nullable<BigInt>,
        expected_close_date -> Nullable<Date>,
        owner -> Nullable<Text>,
        remarks -> Nullable<Text>,
        created_at -> Date,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    import_jobs (id) {
        id -> BigInt,
        module -> Text,
        format -> Text,
        mode -> Text,
        on_error -> Text,
        dry_run -> Bool,
        status -> Text,
        rows_read -> BigInt,
        created -> BigInt,
        updated -> BigInt,
        skipped -> BigInt,
        failed -> BigInt,
        bytes_read -> BigInt,
        file_name -> Text,
        declared_size -> Nullable<BigInt>,
        file_size -> Nullable<BigInt>,
        sha256 -> Nullable<Text>,
        token_name -> Text,
        error_message -> Nullable<Text>,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        error_code -> Nullable<Text>,
        watermark -> BigInt,
        owner -> Nullable<Text>,
        lease_expires_ms -> Nullable<BigInt>,
        request_id -> Nullable<Text>,
        request_fingerprint -> Nullable<Text>,
        attempts -> Integer,
        resume_offset -> Nullable<BigInt>,
        resume_row -> Nullable<BigInt>,
        resume_state -> Nullable<Binary>,
        module_counts -> Nullable<Text>,
    }
}

diesel::table! {
    import_cancel_requests (job_id) {
        job_id -> BigInt,
        requested_at -> Timestamp,
    }
}

diesel::table! {
    import_row_errors (id) {
        id -> BigInt,
        job_id -> BigInt,
        row -> BigInt,
        column_label -> Text,
        field -> Text,
        code -> Text,
        message -> Text,
        raw_value -> Nullable<Text>,
        row_data -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        name -> Text,
        token_hash -> Text,
        permissions -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        event -> Text,
        rpc -> Text,
        token_name -> Nullable<Text>,
        peer -> Nullable<Text>,
        module -> Nullable<Text>,
        filter -> Nullable<Text>,
        job_id -> Nullable<BigInt>,
        rows -> Nullable<BigInt>,
        bytes -> Nullable<BigInt>,
        detail -> Text,
    }
}

diesel::table! {
    import_changes (id) {
        id -> BigInt,
        job_id -> BigInt,
        module -> Text,
        written_at -> Timestamp,
        created -> Text,
        updated -> Text,
        entries -> BigInt,
    }
}

diesel::joinable!(import_row_errors -> import_jobs (job_id));
diesel::joinable!(import_cancel_requests -> import_jobs (job_id));
diesel::allow_tables_to_appear_in_same_query!(
    customers,
    contacts,
    opportunities,
    import_jobs,
    import_changes,
    import_row_errors,
    import_cancel_requests,
    api_tokens,
    audit_log,
);
