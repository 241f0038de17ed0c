-- SRT passphrase a stream's publishers must encrypt with; NULL means unencrypted SRT.
-- Stored as given: SRT derives its keys from the passphrase itself.
ALTER TABLE streams ADD COLUMN srt_passphrase TEXT;
