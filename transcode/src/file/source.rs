//! A [`FileSource`] as a random-access `appsrc`, so demuxers that seek (MP4 with its index at
//! the end, Matroska cues) work on files that are not on a filesystem.
//!
//! GStreamer asks for small blocks (4 KiB in push mode); each would be one storage read, so
//! reads go through a window of [`READ_WINDOW`] bytes that later requests are served from.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{FileError, FileSource};

/// Bytes fetched from the source per read.
const READ_WINDOW: usize = 1024 * 1024;

struct Reader {
    source: Box<dyn FileSource>,
    /// Where the next block starts.
    offset: u64,
    /// The last window read: its start and bytes.
    window: (u64, Bytes),
    /// The first read error, for the job's reason.
    failed: Option<String>,
}

impl Reader {
    fn read(&mut self, len: usize) -> std::io::Result<Bytes> {
        let (start, data) = &self.window;
        let end = start + data.len() as u64;
        if self.offset < *start || self.offset >= end || (self.offset + len as u64 > end && data.len() == READ_WINDOW) {
            let data = self.source.read_at(self.offset, len.max(READ_WINDOW))?;
            self.window = (self.offset, data);
        }
        let (start, data) = &self.window;
        let from = usize::try_from(self.offset - start).unwrap_or(usize::MAX).min(data.len());
        let to = (from + len).min(data.len());
        Ok(data.slice(from..to))
    }
}

/// The appsrc, and where a read failure is kept.
pub(super) struct SourceElement {
    pub(super) appsrc: gst_app::AppSrc,
    reader: Arc<Mutex<Reader>>,
}

impl SourceElement {
    pub(super) fn new(name: &str, source: Box<dyn FileSource>) -> Self {
        let size = source.size();
        let reader = Arc::new(Mutex::new(Reader { source, offset: 0, window: (0, Bytes::new()), failed: None }));
        let appsrc = gst_app::AppSrc::builder()
            .name(name)
            .stream_type(gst_app::AppStreamType::RandomAccess)
            .size(i64::try_from(size).unwrap_or(i64::MAX))
            .format(gst::Format::Bytes)
            .build();
        let for_data = reader.clone();
        let for_seek = reader.clone();
        appsrc.set_callbacks(
            gst_app::AppSrcCallbacks::builder()
                .need_data(move |appsrc, length| {
                    let Ok(mut reader) = for_data.lock() else { return };
                    let offset = reader.offset;
                    match reader.read(length.max(1) as usize) {
                        Ok(data) if data.is_empty() => {
                            let _ = appsrc.end_of_stream();
                        }
                        Ok(data) => {
                            reader.offset += data.len() as u64;
                            let mut buffer = gst::Buffer::from_slice(data);
                            if let Some(b) = buffer.get_mut() {
                                b.set_offset(offset);
                            }
                            let _ = appsrc.push_buffer(buffer);
                        }
                        Err(e) => {
                            reader.failed.get_or_insert_with(|| e.to_string());
                            gst::element_error!(appsrc, gst::ResourceError::Read, ["reading at {offset}: {e}"]);
                            let _ = appsrc.end_of_stream();
                        }
                    }
                })
                .seek_data(move |_, offset| {
                    if let Ok(mut reader) = for_seek.lock() {
                        reader.offset = offset;
                    }
                    true
                })
                .build(),
        );
        Self { appsrc, reader }
    }

    /// The read error that stopped the pipeline, if one did.
    pub(super) fn read_failure(&self) -> Option<FileError> {
        self.reader.lock().ok()?.failed.clone().map(FileError::Read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting {
        data: Bytes,
        reads: usize,
    }

    impl FileSource for Counting {
        fn size(&self) -> u64 {
            self.data.len() as u64
        }
        fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Bytes> {
            self.reads += 1;
            let from = (offset as usize).min(self.data.len());
            Ok(self.data.slice(from..(from + len).min(self.data.len())))
        }
    }

    #[test]
    fn small_blocks_come_from_one_window_and_seeks_refill_it() {
        let data: Bytes = (0..3 * READ_WINDOW).map(|i| (i % 251) as u8).collect::<Vec<_>>().into();
        let mut reader = Reader {
            source: Box::new(Counting { data: data.clone(), reads: 0 }),
            offset: 0,
            window: (0, Bytes::new()),
            failed: None,
        };
        let mut got = Vec::new();
        while got.len() < 2 * READ_WINDOW {
            let block = reader.read(4096).expect("read");
            reader.offset += block.len() as u64;
            got.extend_from_slice(&block);
        }
        assert_eq!(&got[..], &data[..2 * READ_WINDOW]);
        reader.offset = 10;
        assert_eq!(reader.read(5).expect("read"), data.slice(10..15));
        reader.offset = data.len() as u64 - 3;
        assert_eq!(reader.read(4096).expect("read").len(), 3, "short at the end");
        reader.offset = data.len() as u64;
        assert!(reader.read(4096).expect("read").is_empty());
    }
}
