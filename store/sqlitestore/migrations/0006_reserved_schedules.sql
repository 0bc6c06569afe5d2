-- Schema 6 is the schedules feature's (on its own branch). This
-- placeholder keeps the numbers without gaps until that branch is
-- merged: delete it then.
SELECT 1;
