-- Every batch rewrites the rows of the issues it brings events to. Room on
-- each page lets most of those updates stay on the page (HOT: no new index
-- entries), and vacuuming after 2 % of the table rather than autovacuum's
-- default 20 % keeps dead rows from piling up between vacuums. The grouping
-- role also vacuums these tables itself when the server's autovacuum is off
-- or behind (pg.VacuumBloated). fillfactor applies to pages written from now
-- on.
ALTER TABLE grouping.issues SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);
ALTER TABLE grouping.issue_tags SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.05);
