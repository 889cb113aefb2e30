-- 002_job_batch: the batch a worker runs an EXECUTING job in ("worker/run-number", the batch_id
-- of the job's results), shown in its jobInfo. NULL until a claim names it; a requeue clears it.
ALTER TABLE jobs ADD COLUMN batch TEXT;
