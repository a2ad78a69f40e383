-- Console and alert watcher reads: a run's reruns, and runs finished since an instant.
CREATE INDEX runs_by_parent ON runs (parent_run);
CREATE INDEX runs_by_finished ON runs (finished_at);
CREATE INDEX run_events_by_kind ON run_events (kind);
