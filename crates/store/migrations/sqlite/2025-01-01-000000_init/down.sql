DROP TABLE api_tokens;
DROP TABLE import_row_errors;
DROP TABLE import_jobs;
DROP TABLE opportunities;
DROP TABLE contacts;
DROP TABLE customers;
