-- Schema 10: the pending reviews' times, for Stats' oldest pending review.
--
-- Stats read every awaiting-review run's row (a table lookup each, and
-- the review's JSON) to find the oldest pending one: at a million runs,
-- 10,000 reviews were most of plumb status. These indexes hold exactly
-- what that reads (the pipeline, the review's creation time and whether
-- it is decided), so the read is of the index alone. Only runs awaiting
-- review have an entry, so a run that never waits for a review pays
-- nothing. runs_reviews_raw holds the reviews the JSON functions cannot
-- read (none that the store writes), which Stats decodes in Go.
CREATE INDEX runs_reviews ON runs (status, pipeline, json_valid(review),
    json_extract(review, '$.created_at'), json_extract(review, '$.decision') IS NULL)
    WHERE status = 'awaiting_review' AND json_valid(review);
CREATE INDEX runs_reviews_raw ON runs (status, pipeline) WHERE status = 'awaiting_review' AND NOT json_valid(review);
