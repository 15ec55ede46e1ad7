-- Conductor's UI searches tasks by start time (`startTime>…`, the last 72 hours by default)
-- and sorts them by it, newest first, with the row id breaking ties. The start-time index
-- alone made PostgreSQL visit every matching row and sort them for a page of 15; with the
-- row id in the index the page is read in order from it (issue 14).
DROP INDEX tasks_start_time;
CREATE INDEX tasks_start_time ON tasks (start_time, row_id);
