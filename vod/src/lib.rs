//! Video on demand: where uploads and their renditions live, and how an upload becomes them.
//!
//! Now: [`storage`], the `Storage` trait every media object goes through, shaped for object
//! storage (whole-object streaming puts that appear atomically, gets, ranged gets, listing by
//! prefix, deletes; no appends, no renames, no directories), with [`LocalStorage`] (a directory,
//! the embedded default) and [`MemoryStorage`] (tests, and the proof the trait assumes no
//! filesystem). S3 joins as a third implementation. [`uploads`]: the bytes of resumable uploads
//! as numbered part objects (`uploads/ID/part-00000001`, ...), which both kinds of storage can
//! hold; the tus protocol on top of it is `oxcast-api`'s.
//!
//! [`processing`]: the worker that takes `process_video` jobs from the store's queue and turns
//! an upload into renditions through `oxcast_transcode::file` (the same rung code as live),
//! writing segments and playlists ([`hls`]: EVENT while processing, VOD when done) to storage
//! as they are made, under the names [`layout`] gives them (`videos/ID/...`, served as
//! `/vod/ID/...`).
//!
//! This crate knows no HTTP and no SQL (the catalog and the job queue live in `oxcast-store`).

pub mod captions;
pub mod hls;
pub mod layout;
pub mod processing;
pub mod recording;
pub mod storage;
pub mod uploads;

pub use processing::{PROCESS_ATTEMPTS, PROCESS_VIDEO, ProcessingConfig, Processor, RenditionSummary};
pub use recording::Recorder;
pub use storage::{
    ByteStream, LocalStorage, MemoryStorage, ObjectKey, ObjectMeta, S3Settings, S3Storage, Storage, StorageError,
};
pub use uploads::{AppendError, Appended, PART_BYTES, UploadParts};
