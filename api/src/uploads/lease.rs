//! One request at a time per upload, on every node: a PATCH (or a delete) holds the upload's
//! lease in the shared database (`upload:ID`), so an upload started on one node and resumed on
//! another can never have two writers, and a second request gets 423 wherever it lands.
//!
//! The lease lives as long as the request's guard: a task renews it every [`RENEW_EVERY`]
//! while the body streams in, and dropping the guard (the request ended, or its connection died
//! and the handler was dropped) releases it. A node killed mid-PATCH stops renewing, so its
//! lease frees itself after [`UPLOAD_LEASE`] and the client's retry (tus clients retry 423)
//! goes through on any node.

use std::time::Duration;

use oxcast_store::{Secret, Store};

use crate::AppError;

/// How long an unrenewed upload lease lasts (what a killed node's upload waits at most).
pub const UPLOAD_LEASE: Duration = Duration::from_secs(10);
/// How often a running request renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(3);

/// The held lease; released when dropped.
pub(super) struct UploadLease {
    store: Store,
    name: String,
    holder: String,
    generation: i64,
    renewal: tokio::task::JoinHandle<()>,
}

/// Takes upload `id`'s lease, or `None` while another request (on any node) holds it.
pub(super) async fn take(store: &Store, id: &str) -> Result<Option<UploadLease>, AppError> {
    let name = format!("upload:{id}");
    let holder = Secret::id("patch_");
    let Some(generation) = store.leases().try_acquire(&name, &holder, None, UPLOAD_LEASE).await? else {
        return Ok(None);
    };
    let renewal = tokio::spawn({
        let (store, name, holder) = (store.clone(), name.clone(), holder.clone());
        async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                match store.leases().renew(&name, &holder, generation, UPLOAD_LEASE).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(lease = %name, "upload lease lost while a request was running");
                        return;
                    }
                    Err(e) => tracing::warn!(lease = %name, error = %e, "cannot renew the upload lease"),
                }
            }
        }
    });
    Ok(Some(UploadLease { store: store.clone(), name, holder, generation, renewal }))
}

impl Drop for UploadLease {
    fn drop(&mut self) {
        self.renewal.abort();
        let (store, name, holder, generation) =
            (self.store.clone(), std::mem::take(&mut self.name), std::mem::take(&mut self.holder), self.generation);
        // Without a runtime (the process is ending) the lease simply expires.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.leases().release(&name, &holder, generation).await {
                    tracing::warn!(lease = %name, error = %e, "cannot release the upload lease; it expires by itself");
                }
            });
        }
    }
}
