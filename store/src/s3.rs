//! The S3 checkpoint store (aws-sdk-s3): any S3-compatible server, custom endpoint, path-style, optional SSE.
//! Credentials come from the SDK's standard chain (environment, shared files, web identity…) or, for the
//! operator, from the job's Secret ([`S3Credentials`]) — never from the job config, so they are never logged
//! with it.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use sluice_api::job_config::S3Options;

use super::{ObjectInfo, S3Credentials, StoreError, io_err};

/// Files above this size go up as multipart uploads, in parts of this size.
const MULTIPART_PART: u64 = 16 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    sse: Option<ServerSideEncryption>,
    sse_kms_key_id: Option<String>,
}

fn remote(op: &'static str, key: &str) -> impl FnOnce(String) -> StoreError {
    let key = key.to_string();
    move |reason| StoreError::Remote { op, key, reason }
}

/// The SDK's errors print as "service error" alone; the debug form carries the code and message.
/// `e` and its sources, `: `-separated: a body error's own text is only "streaming error".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn why<E: std::fmt::Debug>(e: E) -> String {
    let s = format!("{e:?}");
    s.chars().take(600).collect()
}

/// The SDK's HTTPS client: rustls 0.23 with ring, the crypto provider of every other TLS connection Sluice
/// makes (kube, the control API), and the system's CA certificates. The SDK's own default would add
/// aws-lc-rs as a second provider; its legacy client, rustls 0.21.
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

impl S3Store {
    /// A store under `s3://bucket/prefix`; credentials from the SDK's chain unless `credentials` are given.
    pub async fn connect(
        bucket: &str,
        prefix: &str,
        opts: &S3Options,
        credentials: Option<&S3Credentials>,
    ) -> S3Store {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(opts.region.clone()))
            .http_client(https_client())
            .load()
            .await;
        // No CRC checksums on uploads or checks on downloads: every restored file is checked against its
        // SHA-256 (its object name) and sealed objects carry AES-GCM tags, so they add nothing; and a server that
        // stores an object's checksum apart from its data (s3s-fs) can pair two concurrent PUTs of one key —
        // two workers uploading the same content-addressed file, sealed with different salts — so that the SDK
        // refuses every later GET of it as a "streaming error".
        let mut conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(opts.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(c) = credentials {
            conf = conf.credentials_provider(Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                None,
                None,
                "sluice-static",
            ));
        } else if let Some(files) = crate::credential_files::CredentialFiles::from_env() {
            conf = conf.credentials_provider(files);
        }
        if let Some(endpoint) = &opts.endpoint {
            if plain_http_off_host(endpoint) {
                tracing::warn!(%endpoint, "the checkpoint store endpoint is plain http: state, manifests and the request signatures cross the network unencrypted; use https (or seal snapshots with state.encryption)");
            }
            conf = conf.endpoint_url(endpoint);
        }
        S3Store {
            client: Client::from_conf(conf.build()),
            bucket: bucket.into(),
            prefix: prefix.into(),
            sse: opts.sse.as_deref().map(ServerSideEncryption::from),
            sse_kms_key_id: opts.sse_kms_key_id.clone(),
        }
    }

    fn full(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    pub fn uri_of(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.full(key))
    }

    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .set_server_side_encryption(self.sse.clone())
            .set_ssekms_key_id(self.sse_kms_key_id.clone())
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| remote("uploading", key)(why(e)))?;
        Ok(())
    }

    pub async fn put_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(io_err("stat", path))?
            .len();
        if size > MULTIPART_PART {
            return self.put_multipart(key, path, size).await;
        }
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| remote("reading for upload", key)(e.to_string()))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .set_server_side_encryption(self.sse.clone())
            .set_ssekms_key_id(self.sse_kms_key_id.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| remote("uploading", key)(why(e)))?;
        Ok(size)
    }

    async fn put_multipart(&self, key: &str, path: &Path, size: u64) -> Result<u64, StoreError> {
        let full = self.full(key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .set_server_side_encryption(self.sse.clone())
            .set_ssekms_key_id(self.sse_kms_key_id.clone())
            .send()
            .await
            .map_err(|e| remote("starting multipart upload", key)(why(e)))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| remote("starting multipart upload", key)("no upload id".into()))?
            .to_string();
        let result = self.upload_parts(key, &full, &upload_id, path, size).await;
        match result {
            Ok(parts) => {
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&full)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| remote("completing multipart upload", key)(why(e)))?;
                Ok(size)
            }
            Err(e) => {
                // Best effort: don't leave invisible parts billing storage.
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&full)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(e)
            }
        }
    }

    async fn upload_parts(
        &self,
        key: &str,
        full: &str,
        upload_id: &str,
        path: &Path,
        size: u64,
    ) -> Result<Vec<CompletedPart>, StoreError> {
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut number = 1i32;
        while offset < size {
            let len = MULTIPART_PART.min(size - offset);
            let body = ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(aws_sdk_s3::primitives::Length::Exact(len))
                .build()
                .await
                .map_err(|e| remote("reading a part", key)(e.to_string()))?;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(full)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(|e| remote("uploading a part", key)(why(e)))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            );
            offset += len;
            number += 1;
        }
        Ok(parts)
    }

    /// Starts a GET of `key`; a missing key is [`StoreError::NotFound`].
    async fn get_object(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    StoreError::NotFound { key: key.into() }
                } else {
                    remote("downloading", key)(why(e))
                }
            })
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let out = self.get_object(key).await?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| remote("downloading", key)(error_chain(&e)))?;
        Ok(bytes.into_bytes().to_vec())
    }

    pub async fn download(&self, key: &str, dst: &Path) -> Result<u64, StoreError> {
        use tokio::io::AsyncWriteExt;
        let out = self.get_object(key).await?;
        let tmp = dst.with_extension("download");
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(io_err("creating", &tmp))?;
        let mut body = out.body;
        let mut n = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| remote("downloading", key)(error_chain(&e)))?
        {
            n += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(io_err("writing", &tmp))?;
        }
        file.flush().await.map_err(io_err("writing", &tmp))?;
        drop(file);
        tokio::fs::rename(&tmp, dst)
            .await
            .map_err(io_err("renaming", dst))?;
        Ok(n)
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = Vec::new();
        let full_prefix = self.full(prefix);
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full_prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| remote("listing", prefix)(why(e)))?;
            for obj in page.contents() {
                let Some(key) = obj.key() else { continue };
                out.push(ObjectInfo {
                    key: key.get(strip..).unwrap_or_default().to_string(),
                    size: u64::try_from(obj.size().unwrap_or(0)).unwrap_or(0),
                    modified_ms: obj.last_modified().and_then(|t| t.to_millis().ok()),
                });
            }
        }
        Ok(out)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
            .map_err(|e| remote("deleting", key)(why(e)))?;
        Ok(())
    }
}
/// An `http://` endpoint on another machine (loopback stays quiet: a local server or a sidecar proxy).
fn plain_http_off_host(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

#[cfg(test)]
mod tests {
    use super::plain_http_off_host;

    #[test]
    fn only_plain_http_to_another_host_is_warned_about() {
        for warned in [
            "http://minio:9000",
            "http://10.0.0.5:9000/",
            "http://s3.example",
        ] {
            assert!(plain_http_off_host(warned), "{warned}");
        }
        for quiet in [
            "https://s3.amazonaws.com",
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            assert!(!plain_http_off_host(quiet), "{quiet}");
        }
    }
}
