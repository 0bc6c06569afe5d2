-- Placeholder: schema 5 is the versions branch's migration
-- (0005_versions.sql there); at its merge this file is replaced by that
-- one. It changes nothing, so that schema 6 (schedules) can be numbered
-- as it will be.
SELECT 1;
