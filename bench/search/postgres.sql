-- PostgreSQL full-text search over the search benchmark's catalog, the approach PeerTube takes:
-- a weighted tsvector with a GIN index for words and prefixes, pg_trgm on the title for typos.
-- bench/search.sh runs the two halves separately to time them: the table and its rows (psql
-- \copy of catalog.tsv), then everything below "-- index" as the index build.
-- The 'simple' configuration lowercases and does not stem, as oxcast's analyzer; oxcast also
-- folds accents (unaccent is not IMMUTABLE, so a generated column cannot call it; the catalog
-- is English, so this changes next to nothing).

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
DROP TABLE IF EXISTS videos;
CREATE TABLE videos (
  id BIGINT PRIMARY KEY,
  title TEXT NOT NULL,
  description TEXT NOT NULL,
  tags TEXT NOT NULL,
  category TEXT NOT NULL,
  language TEXT NOT NULL,
  duration_s INT NOT NULL,
  published_at BIGINT NOT NULL,
  views BIGINT NOT NULL,
  owner_display TEXT NOT NULL
);

-- index
ALTER TABLE videos ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('simple', title), 'A') ||
  setweight(to_tsvector('simple', tags), 'B') ||
  setweight(to_tsvector('simple', description), 'C') ||
  setweight(to_tsvector('simple', owner_display), 'D')
) STORED;
CREATE INDEX videos_tsv ON videos USING GIN (tsv);
CREATE INDEX videos_title_trgm ON videos USING GIN (lower(title) gin_trgm_ops);
CREATE INDEX videos_category_duration ON videos (category, duration_s);
VACUUM ANALYZE videos;
