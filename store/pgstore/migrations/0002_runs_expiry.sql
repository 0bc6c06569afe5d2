-- Schema 2: a claim finds expired leases by when they expire.
--
-- runs_running listed running runs by age, so a claim looking for expired
-- leases read every running run, and every entry a finished run had left
-- in the index until VACUUM removed it: a cost that grew with the rate of
-- work. runs_expiry is ordered by the expiry, so a claim reads only leases
-- that have expired (a finished run's entry keeps the expiry its lease had,
-- still in the future for a while). Heartbeats now change an indexed
-- column, so they are no longer HOT updates; they are rare (every Lease/3
-- per run). Checkpoints change no indexed column and remain HOT.
DROP INDEX runs_running;
CREATE INDEX runs_expiry ON runs (pipeline, lease_expires) WHERE status = 'running';
