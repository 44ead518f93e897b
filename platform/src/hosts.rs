//! Hosts a platform lets `http.check` reach although they are refused by default (loopback,
//! link-local, the runner's own addresses): one parser for the runner's configuration and for
//! the project boundaries deployment-svc stores, so both accept the same entries.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use serde::Deserialize;

/// An address range or a host name that `http.check` may reach although a rule refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum AllowedHost {
    /// Every address in `address/prefix` (a single address is a full-length prefix).
    Network {
        /// The network's address, with the bits beyond the prefix cleared.
        address: IpAddr,
        /// Prefix length.
        prefix: u8,
    },
    /// A host name, as written in URLs (lowercase, without a trailing dot), whatever it
    /// resolves to.
    Name(String),
}

impl AllowedHost {
    /// Whether it covers `address`, one of the addresses of `host`.
    pub fn allows(&self, host: &str, address: IpAddr) -> bool {
        match self {
            Self::Network {
                address: network,
                prefix,
            } => in_network(address, *network, *prefix),
            Self::Name(name) => *name == normal_host(host),
        }
    }
}

impl FromStr for AllowedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let invalid = || {
            format!(
                "{text:?} is neither an address, a network (CIDR such as 127.0.0.0/8) nor a host name"
            )
        };
        if let Some((address, prefix)) = text.split_once('/') {
            let address: IpAddr = address.parse().map_err(|_| invalid())?;
            let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
            if prefix > max_prefix(address) {
                return Err(format!(
                    "{text:?}: the prefix of an {} network is at most {}",
                    if address.is_ipv4() { "IPv4" } else { "IPv6" },
                    max_prefix(address)
                ));
            }
            return Ok(Self::Network {
                address: masked(address, prefix),
                prefix,
            });
        }
        let unbracketed = text.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = unbracketed.parse::<IpAddr>() {
            return Ok(Self::Network {
                address,
                prefix: max_prefix(address),
            });
        }
        let name = normal_host(text);
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(invalid());
        }
        Ok(Self::Name(name))
    }
}

impl TryFrom<String> for AllowedHost {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network { address, prefix } => write!(f, "{address}/{prefix}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// A host as compared with allowed names: lowercase, without brackets or a trailing dot.
pub fn normal_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn max_prefix(address: IpAddr) -> u8 {
    if address.is_ipv4() { 32 } else { 128 }
}

fn masked(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

fn in_network(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
            masked(address, prefix) == network
        }
        _ => false,
    }
}
