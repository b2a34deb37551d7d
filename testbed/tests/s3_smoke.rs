//! The S3 test bed works for real: bucket create, put/get/list/delete and a multipart upload through the
//! same SDK (aws-sdk-s3, path-style, custom endpoint) the runtime uses.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use sluice_testbed::testbed::s3_client;
use sluice_testbed::{TestBed, unique_name};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_list_delete_and_multipart() {
    let bed = TestBed::with_s3().unwrap();
    let s3 = s3_client(bed.s3_endpoint());
    let bucket = unique_name("smoke");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    for key in ["ckpt/a", "ckpt/b", "other/c"] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(format!("body of {key}").into_bytes()))
            .send()
            .await
            .unwrap();
    }
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("ckpt/b")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"body of ckpt/b");

    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("ckpt/")
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    keys.sort();
    assert_eq!(keys, vec!["ckpt/a", "ckpt/b"]);

    s3.delete_object()
        .bucket(&bucket)
        .key("ckpt/a")
        .send()
        .await
        .unwrap();
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("ckpt/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 1);
    assert!(
        s3.get_object()
            .bucket(&bucket)
            .key("ckpt/a")
            .send()
            .await
            .is_err()
    );

    // Multipart: two parts, the first at the 5 MiB minimum real S3 enforces.
    let part1: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let part2: Vec<u8> = b"tail of the multipart object".to_vec();
    let upload = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("big/object")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap().to_string();
    let mut parts = Vec::new();
    for (n, data) in [(1, &part1), (2, &part2)] {
        let out = s3
            .upload_part()
            .bucket(&bucket)
            .key("big/object")
            .upload_id(&upload_id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("big/object")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("big/object")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), part1.len() + part2.len());
    assert_eq!(&body[..part1.len()], &part1[..]);
    assert_eq!(&body[part1.len()..], &part2[..]);
}
