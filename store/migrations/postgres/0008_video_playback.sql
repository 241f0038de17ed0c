-- Processing state players and the video page need: whether the renditions made so far can be
-- played (0/1; the multivariant playlist exists), and the estimated seconds left.
ALTER TABLE videos ADD COLUMN playable BIGINT NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN eta_seconds BIGINT;
