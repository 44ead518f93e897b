//! Cross-site request forgery: every form carries its session's CSRF token in a hidden field,
//! compared in constant time on every POST, and a POST whose browser says it comes from
//! another site is refused before that.

use subtle::ConstantTimeEq as _;

/// Whether `submitted` is the session's token `expected`, in time independent of where they
/// differ.
pub fn token_matches(expected: &str, submitted: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

/// Whether a browser sent the POST of `headers` from a page of another origin.
///
/// `Sec-Fetch-Site` decides when the browser sends it (all current ones do): only
/// `same-origin` passes. Otherwise `Origin`, when present, must name this host: its host and
/// port are compared with the request's `Host` (or, over HTTP/2, its authority), not its
/// scheme, so that a proxy terminating TLS in front of the gateway changes nothing. A request
/// with neither header (not a browser's) is left to the CSRF token.
pub fn is_cross_site(headers: &http::HeaderMap, authority: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() != b"same-origin";
    }
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let Some((_, origin_host)) = origin.split_once("://") else {
        // `null` (a sandboxed frame, a redirect across origins) or something malformed.
        return true;
    };
    let host = headers
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .or(authority);
    match host {
        Some(host) => !origin_host.eq_ignore_ascii_case(host),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    http::HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn tokens_match_only_when_equal_and_not_empty() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("abc", "ab"));
        assert!(!token_matches("", ""));
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(!is_cross_site(
            &headers(&[("sec-fetch-site", "same-origin")]),
            None
        ));
        for site in ["cross-site", "same-site", "none"] {
            let headers: http::HeaderMap = [(
                http::HeaderName::from_static("sec-fetch-site"),
                http::HeaderValue::from_str(site).unwrap(),
            )]
            .into_iter()
            .collect();
            assert!(is_cross_site(&headers, None), "{site}");
        }
    }

    #[test]
    fn the_origin_must_name_the_host_asked() {
        let same = headers(&[
            ("host", "eyrie.example.com:50051"),
            ("origin", "https://eyrie.example.com:50051"),
        ]);
        assert!(!is_cross_site(&same, None));
        let other = headers(&[
            ("host", "eyrie.example.com:50051"),
            ("origin", "https://evil.example.com"),
        ]);
        assert!(is_cross_site(&other, None));
        let null = headers(&[("host", "eyrie.example.com"), ("origin", "null")]);
        assert!(is_cross_site(&null, None));
        let http2 = headers(&[("origin", "http://127.0.0.1:4000")]);
        assert!(!is_cross_site(&http2, Some("127.0.0.1:4000")));
        assert!(is_cross_site(&http2, Some("127.0.0.1:4001")));
        assert!(!is_cross_site(&headers(&[]), None));
    }
}
