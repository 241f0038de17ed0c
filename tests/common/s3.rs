//! The S3-compatible server the test script starts (`OXCAST_TEST_S3_URL`, s3s-fs from
//! `scripts/services.sh`): settings under a key prefix of a test's own, the server's environment
//! for them, and a reader of the bucket to check what the server stored.

use futures_util::TryStreamExt;
use oxcast_vod::{ObjectKey, S3Settings, S3Storage, Storage};

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A bucket prefix no other test uses.
pub fn fresh_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("e2e-{test}-{}-{nanos:08x}", std::process::id())
}

pub fn settings(prefix: &str) -> S3Settings {
    S3Settings {
        endpoint: Some(env_or("OXCAST_TEST_S3_URL", "http://127.0.0.1:9900")),
        bucket: env_or("OXCAST_TEST_S3_BUCKET", "oxcast-test"),
        region: "us-east-1".into(),
        prefix: prefix.to_owned(),
        access_key_id: env_or("OXCAST_TEST_S3_ACCESS_KEY", "oxcast-test"),
        secret_access_key: env_or("OXCAST_TEST_S3_SECRET_KEY", "oxcast-test-secret"),
    }
}

/// The server's environment for storage in `s` (plus `extra`).
pub fn s3_env(s: &S3Settings, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("OXCAST_STORAGE_BACKEND".to_owned(), "s3".to_owned()),
        ("OXCAST_S3_ENDPOINT".to_owned(), s.endpoint.clone().unwrap()),
        ("OXCAST_S3_BUCKET".to_owned(), s.bucket.clone()),
        ("OXCAST_S3_PREFIX".to_owned(), s.prefix.clone()),
        ("OXCAST_S3_ACCESS_KEY_ID".to_owned(), s.access_key_id.clone()),
        ("OXCAST_S3_SECRET_ACCESS_KEY".to_owned(), s.secret_access_key.clone()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

pub fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The objects under `prefix` in the bucket, and a reader for them.
pub struct Bucket {
    storage: S3Storage,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    pub fn new(s: &S3Settings) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let storage = S3Storage::new(s).unwrap();
        runtime
            .block_on(storage.check())
            .unwrap_or_else(|e| panic!("the test S3 server does not answer ({s:?}): {e}; run scripts/services.sh"));
        Self { storage, runtime }
    }

    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.runtime.block_on(self.storage.list(prefix)).unwrap().into_iter().map(|m| m.key.to_string()).collect()
    }

    pub fn read(&self, key: &str) -> Vec<u8> {
        let key = ObjectKey::new(key).unwrap();
        self.runtime.block_on(async {
            let chunks: Vec<bytes::Bytes> = self.storage.get(&key).await.unwrap().try_collect().await.unwrap();
            chunks.concat()
        })
    }
}
