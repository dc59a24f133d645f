-- Placeholder for the sampling migration, replaced by the sampling branch at merge.
SELECT 1;
