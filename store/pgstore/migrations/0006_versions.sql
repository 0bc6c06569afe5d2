-- Placeholder: schema 6 is the versions branch's migration
-- (0006_versions.sql there); at its merge this file is replaced by that
-- one. It changes nothing, so that schema 7 (schedules) can be numbered
-- as it will be.
SELECT 1;
