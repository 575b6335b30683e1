-- Every secondary index roughly doubles the cost of a bulk import into its table (measured in
-- BENCHMARKS.md). Level has three values and owner a few dozen: filtered counts and exports
-- scan the table in one pass either way, so these two indexes cost far more than they save.
DROP INDEX customers_owner_idx;
DROP INDEX customers_level_idx;
