//! Reading a service's `GET /metrics` (Prometheus text format), and the metric names a PromQL
//! expression queries: what the checks of `deploy/monitoring/` compare.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' name (`eyrie_jobs_finished_total`, `..._bucket`, ...).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// What one scrape returned.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// The text as served.
    pub text: String,
}

impl Scrape {
    /// Parses the Prometheus text format.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut samples = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            samples.push(parse_sample(line).with_context(|| format!("sample line {line:?}"))?);
        }
        Ok(Self {
            samples,
            text: text.to_owned(),
        })
    }

    /// The names of every series served.
    pub fn names(&self) -> BTreeSet<String> {
        self.samples.iter().map(|s| s.name.clone()).collect()
    }

    /// The sum of the samples of `name` that carry every label of `labels`; `None` when there
    /// is none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<f64> = self
            .samples
            .iter()
            .filter(|sample| {
                sample.name == name
                    && labels.iter().all(|(key, value)| {
                        sample.labels.get(*key).map(String::as_str) == Some(*value)
                    })
            })
            .map(|sample| sample.value)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    }
}

fn parse_sample(line: &str) -> anyhow::Result<Sample> {
    let (series, value) = line.rsplit_once(' ').context("no value after the series")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        value => value.parse().context("value")?,
    };
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (
            name,
            parse_labels(rest.strip_suffix('}').context("unclosed labels")?)?,
        ),
        None => (series, BTreeMap::new()),
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn parse_labels(mut rest: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").context("label without a value")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().context("unclosed label value")? {
                (_, '\\') => match chars.next().context("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (at, '"') => break at,
                (_, other) => value.push(other),
            }
        };
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Ok(labels)
}

/// `GET /metrics` from a service at `url` (`http://127.0.0.1:port`), with `token` as bearer
/// token when given: the HTTP status and the body.
pub async fn get_metrics(url: &str, token: Option<&str>) -> anyhow::Result<(u16, String)> {
    let address = url
        .strip_prefix("http://")
        .context("only plaintext services are scraped here")?;
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let authorization = token
        .map(|token| format!("authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    stream
        .write_all(
            format!(
                "GET /metrics HTTP/1.1\r\nhost: {address}\r\n{authorization}connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8(response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end of the response's headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    anyhow::ensure!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "chunked responses are not read here"
    );
    Ok((status, body.to_owned()))
}

/// Scrapes `url` and parses what it serves; an error unless it answers 200.
pub async fn scrape(url: &str) -> anyhow::Result<Scrape> {
    let (status, body) = get_metrics(url, None).await?;
    anyhow::ensure!(status == 200, "GET {url}/metrics answered {status}: {body}");
    Scrape::parse(&body)
}

/// Words of PromQL that are not metric names: aggregations, operators, modifiers.
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
];

/// The metric names `expr` (PromQL) selects: every identifier that is not a function, a
/// keyword, a label (in `{...}` or a `by (...)` list), or inside a string or range.
pub fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    // Strings, ranges and label matchers out first: `{job=~"eyrie-.*"}`, `[5m]`.
    let mut text = String::new();
    let mut chars = expr.chars().peekable();
    let mut depth_braces = 0;
    let mut depth_brackets = 0;
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                while let Some(inner) = chars.next() {
                    if inner == '\\' {
                        chars.next();
                    } else if inner == c {
                        break;
                    }
                }
                text.push(' ');
            }
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => depth_brackets += 1,
            ']' => depth_brackets -= 1,
            _ if depth_braces > 0 || depth_brackets > 0 => {}
            c => text.push(c),
        }
    }
    // Identifiers, with what follows them.
    let bytes: Vec<char> = text.chars().collect();
    let mut names = BTreeSet::new();
    let mut at = 0;
    let mut skip_list = false;
    while at < bytes.len() {
        let c = bytes[at];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = at;
            while at < bytes.len()
                && (bytes[at].is_ascii_alphanumeric() || bytes[at] == '_' || bytes[at] == ':')
            {
                at += 1;
            }
            let word: String = bytes[start..at].iter().collect();
            let next = bytes[at..].iter().find(|c| !c.is_whitespace()).copied();
            let preceded_by_digit = start > 0 && bytes[start - 1].is_ascii_digit();
            if matches!(
                word.as_str(),
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            ) {
                // The label list that follows, if any, names labels.
                skip_list = next == Some('(');
            } else if skip_list {
                // Inside the label list.
            } else if next != Some('(')
                && !preceded_by_digit
                && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
            {
                names.insert(word);
            }
            continue;
        }
        if c == ')' && skip_list {
            skip_list = false;
        }
        at += 1;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_parsed_with_their_labels() {
        let scrape = Scrape::parse(
            "# HELP x_total X\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"uote\"} 3\nx_total{a=\"2\"} 4\ny 1.5\n",
        )
        .unwrap();
        assert_eq!(scrape.value("x_total", &[]), Some(7.0));
        assert_eq!(scrape.value("x_total", &[("b", "q\"uote")]), Some(3.0));
        assert_eq!(scrape.value("y", &[]), Some(1.5));
        assert_eq!(scrape.value("z", &[]), None);
    }

    #[test]
    fn metric_names_are_read_from_promql() {
        let names = promql_metric_names(
            r#"histogram_quantile(0.99, sum by (le, rpc_method) (rate(rpc_server_duration_milliseconds_bucket{job=~"$job", rpc_method!~"Watch.*"}[$__rate_interval])))
               / on (job) group_left max(eyrie_jobs_queued) > 0 and up{job="x"} == 0 unless sum without (a) (b_total offset 5m)"#,
        );
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            [
                "b_total",
                "eyrie_jobs_queued",
                "rpc_server_duration_milliseconds_bucket",
                "up"
            ]
        );
    }
}
