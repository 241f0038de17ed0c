//! Video on demand: where uploads and their renditions live, and (as the VOD work lands) the
//! uploads, the processing jobs and the catalog around them.
//!
//! Now: [`storage`], the `Storage` trait every media object goes through, shaped for object
//! storage (whole-object streaming puts that appear atomically, gets, ranged gets, listing by
//! prefix, deletes; no appends, no renames, no directories), with [`LocalStorage`] (a directory,
//! the embedded default) and [`MemoryStorage`] (tests, and the proof the trait assumes no
//! filesystem). S3 joins as a third implementation. Resumable uploads will be kept as numbered
//! part objects (`uploads/ID/part-000001`, ...), which both kinds of storage can hold.
//!
//! This crate knows no HTTP and no SQL (the catalog and the job queue live in `oxcast-store`).

pub mod storage;

pub use storage::{ByteStream, LocalStorage, MemoryStorage, ObjectKey, ObjectMeta, Storage, StorageError};
