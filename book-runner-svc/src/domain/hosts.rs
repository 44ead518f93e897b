//! Which hosts an `http.check` step may reach.
//!
//! A book is written by a project's admin, so the URL it checks is untrusted: pointed at the
//! runner itself, at another service on its loopback, or at a cloud's metadata endpoint
//! (169.254.169.254), a check would probe what no project should see. Those addresses are
//! refused unless the runner's configuration allows them (`runner.http_check_allow`; `eyrie up`
//! and tests allow loopback) or the project's boundary does (`hosts`, set by global admins).
//! The rules apply to the addresses a host name resolves to, and the step then connects to
//! exactly those addresses.

use std::{fmt, net::IpAddr};

pub use eyrie_platform::hosts::AllowedHost;
use eyrie_platform::hosts::normal_host;

/// A rule that keeps `http.check` away from an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// 127.0.0.0/8, ::1: the runner's own machine.
    Loopback,
    /// 169.254.0.0/16, fe80::/10: where clouds serve instance metadata and credentials.
    LinkLocal,
    /// 0.0.0.0/8, `::`: reaches the runner's own machine on most systems.
    Unspecified,
    /// An address of one of the runner's own network interfaces.
    RunnerAddress,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loopback => "loopback (127.0.0.0/8, ::1)",
            Self::LinkLocal => {
                "link-local (169.254.0.0/16, fe80::/10, where cloud metadata endpoints live)"
            }
            Self::Unspecified => "unspecified (0.0.0.0/8, ::)",
            Self::RunnerAddress => "one of the runner's own addresses",
        })
    }
}

/// Why `http.check` may not reach `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The host as the URL names it.
    pub host: String,
    /// The address refused (the host itself, or one it resolves to).
    pub address: IpAddr,
    /// The rule that refused it.
    pub rule: Rule,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, address, rule) = (&self.host, self.address, self.rule);
        if normal_host(host) == address.to_string() {
            write!(f, "host {host} is refused: it is {rule}")?;
        } else {
            write!(
                f,
                "host {host} is refused: it resolves to {address}, which is {rule}"
            )?;
        }
        f.write_str(
            "; the runner's configuration (runner.http_check_allow) or the project's boundary \
             (hosts, set by a global admin) must allow it",
        )
    }
}

/// What a job's `http.check` steps may reach although a rule refuses it: the runner's own
/// allowances and its project's. A project entry that does not read is an error naming it
/// (deployment-svc checks them when they are set, so this means a newer or corrupt snapshot).
pub fn allowed_for_project(
    runner: &[AllowedHost],
    project: &[String],
) -> Result<Vec<AllowedHost>, String> {
    let mut allowed = runner.to_vec();
    for entry in project {
        allowed.push(
            entry
                .parse()
                .map_err(|err| format!("the project's boundary host {err}"))?,
        );
    }
    Ok(allowed)
}

/// Whether `http.check` may reach `address`, one of the addresses of `host`. `allowed` comes
/// first; `is_runner_address` tells whether an address belongs to the runner's machine.
pub fn check_host(
    allowed: &[AllowedHost],
    host: &str,
    address: IpAddr,
    is_runner_address: impl Fn(IpAddr) -> bool,
) -> Result<(), Refusal> {
    // An IPv4 address written as IPv6 (::ffff:127.0.0.1) is that IPv4 address.
    let address = address.to_canonical();
    if allowed.iter().any(|entry| entry.allows(host, address)) {
        return Ok(());
    }
    let rule = refusing_rule(address)
        .or_else(|| is_runner_address(address).then_some(Rule::RunnerAddress));
    match rule {
        Some(rule) => Err(Refusal {
            host: host.to_owned(),
            address,
            rule,
        }),
        None => Ok(()),
    }
}

/// The fixed rule that refuses `address`, if one does.
fn refusing_rule(address: IpAddr) -> Option<Rule> {
    match address {
        IpAddr::V4(v4) => {
            if v4.is_loopback() {
                Some(Rule::Loopback)
            } else if v4.is_link_local() {
                Some(Rule::LinkLocal)
            } else if v4.octets()[0] == 0 {
                Some(Rule::Unspecified)
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                Some(Rule::Loopback)
            } else if v6.is_unicast_link_local() {
                Some(Rule::LinkLocal)
            } else if v6.is_unspecified() {
                Some(Rule::Unspecified)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> Vec<AllowedHost> {
        entries.iter().map(|entry| entry.parse().unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nobody(_: IpAddr) -> bool {
        false
    }

    fn refusal(allowed: &[AllowedHost], host: &str, address: &str) -> Option<Rule> {
        check_host(allowed, host, ip(address), nobody)
            .err()
            .map(|refusal| refusal.rule)
    }

    #[test]
    fn loopback_link_local_and_unspecified_addresses_are_refused() {
        let cases = [
            ("127.0.0.1", Some(Rule::Loopback)),
            ("127.255.0.9", Some(Rule::Loopback)),
            ("::1", Some(Rule::Loopback)),
            ("::ffff:127.0.0.1", Some(Rule::Loopback)),
            ("169.254.169.254", Some(Rule::LinkLocal)),
            ("fe80::1", Some(Rule::LinkLocal)),
            ("febf::1", Some(Rule::LinkLocal)),
            ("::ffff:169.254.169.254", Some(Rule::LinkLocal)),
            ("0.0.0.0", Some(Rule::Unspecified)),
            ("0.1.2.3", Some(Rule::Unspecified)),
            ("::", Some(Rule::Unspecified)),
            ("10.0.0.1", None),
            ("93.184.216.34", None),
            ("2001:db8::1", None),
            ("fec0::1", None),
        ];
        for (address, expected) in cases {
            assert_eq!(refusal(&[], "h", address), expected, "{address}");
        }
    }

    #[test]
    fn the_runners_own_addresses_are_refused() {
        let own = |address: IpAddr| address == ip("10.1.2.3");
        let refused = check_host(&[], "runner.internal", ip("10.1.2.3"), own).unwrap_err();
        assert_eq!(refused.rule, Rule::RunnerAddress);
        assert!(check_host(&[], "other", ip("10.1.2.4"), own).is_ok());
    }

    #[test]
    fn the_configuration_allows_networks_addresses_and_names() {
        let rules = allowed(&["127.0.0.0/8", "::1", "metadata.internal", "10.0.0.0/8"]);
        assert_eq!(refusal(&rules, "h", "127.0.0.1"), None);
        assert_eq!(refusal(&rules, "h", "127.9.9.9"), None);
        assert_eq!(refusal(&rules, "h", "::1"), None);
        assert_eq!(refusal(&rules, "h", "::ffff:127.0.0.1"), None);
        assert_eq!(
            refusal(&rules, "h", "169.254.169.254"),
            Some(Rule::LinkLocal)
        );
        assert_eq!(
            refusal(&rules, "Metadata.Internal.", "169.254.169.254"),
            None
        );
        let own = |_: IpAddr| true;
        assert!(check_host(&rules, "h", ip("10.1.2.3"), own).is_ok());
        // An IPv4 network does not allow IPv6 addresses, nor the other way round.
        assert_eq!(
            refusal(&allowed(&["0.0.0.0/0"]), "h", "::1"),
            Some(Rule::Loopback)
        );
    }

    #[test]
    fn allowed_entries_parse_and_print() {
        assert_eq!(
            "127.0.0.1/8".parse::<AllowedHost>().unwrap().to_string(),
            "127.0.0.0/8"
        );
        assert_eq!("::1".parse::<AllowedHost>().unwrap().to_string(), "::1/128");
        assert_eq!(
            "[::1]".parse::<AllowedHost>().unwrap().to_string(),
            "::1/128"
        );
        assert_eq!(
            "LocalHost.".parse::<AllowedHost>().unwrap(),
            AllowedHost::Name("localhost".to_owned())
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "a b",
            "x/8",
            "http://h/",
            "h:80",
        ] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_host_the_address_and_the_rule() {
        let refused = check_host(&[], "shop.example", ip("169.254.169.254"), nobody).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "host shop.example is refused: it resolves to 169.254.169.254, which is link-local \
             (169.254.0.0/16, fe80::/10, where cloud metadata endpoints live); the runner's \
             configuration (runner.http_check_allow) or the project's boundary (hosts, set by a global admin) must allow it"
        );
        let refused = check_host(&[], "127.0.0.1", ip("127.0.0.1"), nobody).unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("host 127.0.0.1 is refused: it is loopback"),
            "{refused}"
        );
    }
}
