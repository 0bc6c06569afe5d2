-- Schema 6 is the versions feature's (0006_versions.sql, on its own
-- branch). This placeholder keeps the numbers without gaps until that
-- branch is merged: delete it then.
SELECT 1;
