-- apeltools schema, migration 013: indexes for pages of jobs (apel-report serve, apel-query --limit) (MySQL 8 / MariaDB).
--
-- A page of the jobs view in its order (Site name, EndTime, LocalJobId) is read site by site, the
-- sites taken in the order of their names (apeltools/db/job_pages.py); within a site the rows come
-- in (EndTime, LocalJobId) order from JobRecords_SiteEnd. A user's page (their DN's id) comes from
-- JobRecords_UserSiteEnd in the same way. The primary key (SiteID, LocalJobId, EndTime) serves
-- neither order. No view changes.

CREATE INDEX JobRecords_SiteEnd ON JobRecords (SiteID, EndTime, LocalJobId);
CREATE INDEX JobRecords_UserSiteEnd ON JobRecords (GlobalUserNameID, SiteID, EndTime, LocalJobId);
