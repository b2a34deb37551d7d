//! Reading the worker's `/metrics` (Prometheus text exposition) so a benchmark phase can take deltas of a
//! histogram's sum and count or of a counter. A plain HTTP/1.0 GET over a TCP stream is all it needs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sluice_testbed::TestBedError;

/// One scrape of a `/metrics` endpoint.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    text: String,
}

/// A histogram's running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HistogramTotals {
    pub sum: f64,
    pub count: f64,
}

impl HistogramTotals {
    /// What was observed between `earlier` and `self`.
    pub fn since(self, earlier: HistogramTotals) -> HistogramTotals {
        HistogramTotals {
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        }
    }
}

impl Scrape {
    pub fn parse(text: impl Into<String>) -> Scrape {
        Scrape { text: text.into() }
    }

    /// GETs `url` (`http://host:port/path`).
    pub fn get(url: &str) -> Result<Scrape, TestBedError> {
        let err = |what: &str| TestBedError::Env(format!("scraping {url}: {what}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| err("only http:// URLs"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut stream = TcpStream::connect(host).map_err(|e| err(&e.to_string()))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| err(&e.to_string()))?;
        write!(
            stream,
            "GET /{path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| err(&e.to_string()))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(|e| err(&e.to_string()))?;
        let raw = String::from_utf8_lossy(&raw);
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .ok_or_else(|| err("no HTTP header"))?;
        let status = head.lines().next().unwrap_or_default();
        if !status.contains(" 200") {
            return Err(err(status));
        }
        Ok(Scrape::parse(body))
    }

    /// The value of the series `name{labels}` (`labels` like `kind="checkpoint"`, or empty for none).
    pub fn value(&self, name: &str, labels: &str) -> Option<f64> {
        let series = if labels.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{labels}}}")
        };
        self.text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (s, v) = l.rsplit_once(' ')?;
                (s == series).then(|| v.parse().ok()).flatten()
            })
    }

    /// The sum of every series of `name`, whatever its labels (None when there is none).
    pub fn sum(&self, name: &str) -> Option<f64> {
        let values: Vec<f64> = self
            .text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, v) = l.rsplit_once(' ')?;
                let metric = series.split_once('{').map_or(series, |(m, _)| m);
                (metric == name).then(|| v.parse::<f64>().ok()).flatten()
            })
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// `<name>_sum` and `<name>_count` of a histogram (zero when the series does not exist yet).
    pub fn histogram(&self, name: &str, labels: &str) -> HistogramTotals {
        HistogramTotals {
            sum: self.value(&format!("{name}_sum"), labels).unwrap_or(0.0),
            count: self.value(&format!("{name}_count"), labels).unwrap_or(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP sluice_checkpoint_pause_seconds pause\n\
        # TYPE sluice_checkpoint_pause_seconds histogram\n\
        sluice_checkpoint_pause_seconds_sum 0.25\n\
        sluice_checkpoint_pause_seconds_count 3\n\
        sluice_checkpoint_pause_seconds_bucket{le=\"0.001\"} 0\n\
        sluice_checkpoint_uploaded_bytes_total{kind=\"checkpoint\"} 12345\n\
        sluice_checkpoint_uploaded_bytes_total{kind=\"savepoint\"} 7\n\
        # EOF\n";

    #[test]
    fn finds_series_by_exact_name_and_labels() {
        let s = Scrape::parse(TEXT);
        let h = s.histogram("sluice_checkpoint_pause_seconds", "");
        assert_eq!(
            h,
            HistogramTotals {
                sum: 0.25,
                count: 3.0
            }
        );
        assert_eq!(
            s.value(
                "sluice_checkpoint_uploaded_bytes_total",
                "kind=\"checkpoint\""
            ),
            Some(12345.0)
        );
        assert_eq!(s.value("sluice_checkpoint_uploaded_bytes_total", ""), None);
        assert_eq!(s.histogram("missing", "").count, 0.0);
        let later = HistogramTotals {
            sum: 0.3,
            count: 4.0,
        };
        assert_eq!(later.since(h).count, 1.0);
    }

    #[test]
    fn sums_a_family_over_its_labels_only() {
        let s = Scrape::parse(
            "# TYPE sluice_state_bytes gauge\n\
             sluice_state_bytes{partition=\"0\"} 100\n\
             sluice_state_bytes{partition=\"1\"} 250\n\
             sluice_state_bytes_other 7\n",
        );
        assert_eq!(s.sum("sluice_state_bytes"), Some(350.0));
        assert_eq!(s.sum("sluice_state"), None);
    }
}
