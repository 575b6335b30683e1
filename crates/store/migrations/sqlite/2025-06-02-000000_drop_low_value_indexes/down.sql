CREATE INDEX customers_owner_idx ON customers (owner);
CREATE INDEX customers_level_idx ON customers (level);
