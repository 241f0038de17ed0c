-- Transcoding profile of a stream; NULL means the server's default profile.
ALTER TABLE streams ADD COLUMN profile TEXT;
