//! The httpGet readiness probe: a GET to the pod's IP, plain HTTP/1.0 or, for `scheme: HTTPS`, over TLS
//! without verifying the certificate (as the kubelet does); any 2xx or 3xx status is a success, as for the
//! kubelet. Custom headers are not supported.

use std::net::Ipv4Addr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::plan::HttpProbe;

/// One probe attempt.
pub async fn http_ok(probe: &HttpProbe, pod_ip: Ipv4Addr) -> bool {
    let host = probe.host.clone().unwrap_or_else(|| pod_ip.to_string());
    if probe.https {
        return https_ok(probe, &host).await;
    }
    let attempt = async {
        let mut stream = TcpStream::connect((host.as_str(), probe.port)).await.ok()?;
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {host}:{}\r\nUser-Agent: sluice-node-agent\r\n\r\n",
            probe.path, probe.port
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 32];
        let n = stream.read(&mut head).await.ok()?;
        let line = String::from_utf8_lossy(&head[..n]).into_owned();
        let code: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some((200..400).contains(&code))
    };
    tokio::time::timeout(probe.timeout, attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// One client for every HTTPS probe (built on first use, not per attempt).
fn https_client() -> Option<&'static reqwest::Client> {
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .ok()
        })
        .as_ref()
}

async fn https_ok(probe: &HttpProbe, host: &str) -> bool {
    let Some(client) = https_client() else {
        return false;
    };
    let url = format!("https://{host}:{}{}", probe.port, probe.path);
    match client.get(&url).timeout(probe.timeout).send().await {
        Ok(r) => (200..400).contains(&r.status().as_u16()),
        Err(_) => false,
    }
}
