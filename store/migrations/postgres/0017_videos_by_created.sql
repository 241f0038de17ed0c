-- Every video newest first (admin listings, the search index rebuild) without sorting the table
-- for each page.
CREATE INDEX videos_by_created ON videos (created_at, id);
