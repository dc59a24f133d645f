-- Placeholder for the care migration, replaced by the care branch at merge.
SELECT 1;
