//! [`AllowList`]: the destinations a bot's sidecar grants in `allowed_outbound_hosts`, in
//! Spin's syntax so its users recognise it: `scheme://host[:port]`, where the scheme may be
//! `*`, the host `*` or `*.example.com` (any subdomain), and the port a number or `*`; no
//! port means the scheme's default one.
//!
//! A destination written as an IP address is matched as written. Whether the address may
//! be reached at all is [`super::address`]'s question: a private or loopback address is
//! reachable only through an entry that names that very address, never through a wildcard.

use std::net::IpAddr;

/// A destination a request goes to: scheme, host as the URL wrote it, and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `http` or `https`.
    pub scheme: String,
    /// The host, lower-cased; an IPv6 address without its brackets.
    pub host: String,
    /// The port, the scheme's default when the URL had none.
    pub port: u16,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip() {
            Some(IpAddr::V6(_)) => write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port),
            _ => write!(f, "{}://{}:{}", self.scheme, self.host, self.port),
        }
    }
}

impl Destination {
    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// The port a scheme uses when a URL names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.suffix`: one or more labels before `.suffix`.
    Subdomains(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    /// No port written: the default port of the request's scheme.
    Default,
    Exact(u16),
}

/// One `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `None` is `*`: http or https.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// A bot's granted destinations; empty (the default) grants none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
}

/// How a destination matched the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// No entry matches.
    Denied,
    /// An entry matches through a wildcard or a host name.
    Matched,
    /// An entry names this IP address itself.
    AddressListed,
}

impl AllowList {
    /// Parse the sidecar's list; the error names the entry and what is wrong with it.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let entries = entries
            .iter()
            .map(|e| parse_entry(e).map_err(|why| format!("allowed_outbound_hosts entry {e:?}: {why}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether the list grants nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How `dest` matches, the strongest grant of any entry.
    pub fn grant(&self, dest: &Destination) -> Grant {
        let mut grant = Grant::Denied;
        for entry in self.entries.iter().filter(|e| e.scheme_and_port_match(dest)) {
            match &entry.host {
                HostPattern::Exact(host) if host == &dest.host => {
                    if dest.ip().is_some() {
                        return Grant::AddressListed;
                    }
                    grant = Grant::Matched;
                }
                HostPattern::Any => grant = Grant::Matched,
                HostPattern::Subdomains(suffix) if is_subdomain(&dest.host, suffix) => grant = Grant::Matched,
                _ => {}
            }
        }
        grant
    }
}

impl Entry {
    fn scheme_and_port_match(&self, dest: &Destination) -> bool {
        let scheme = self.scheme.as_deref().is_none_or(|s| s == dest.scheme);
        let port = match self.port {
            PortPattern::Any => true,
            PortPattern::Default => default_port(&dest.scheme) == Some(dest.port),
            PortPattern::Exact(port) => port == dest.port,
        };
        scheme && port
    }
}

fn is_subdomain(host: &str, suffix: &str) -> bool {
    host.strip_suffix(suffix).is_some_and(|rest| !rest.is_empty() && !rest.ends_with('.'))
}

fn parse_entry(entry: &str) -> Result<Entry, String> {
    let (scheme, rest) = entry.split_once("://").ok_or("expected scheme://host[:port]")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "*" => None,
        s @ ("http" | "https") => Some(s.to_owned()),
        _ => return Err("the scheme must be http, https or *".into()),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err("only scheme, host and port may be given (no path, query or user)".into());
    }
    let (host, port) = split_host_port(rest)?;
    let port = match port {
        None => PortPattern::Default,
        Some("*") => PortPattern::Any,
        Some(p) => PortPattern::Exact(p.parse().map_err(|_| format!("{p:?} is not a port"))?),
    };
    Ok(Entry { scheme, host: parse_host(host)?, port })
}

/// `host[:port]`, with `[v6]` brackets.
fn split_host_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(v6) = text.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed [ in an IPv6 address")?;
        return match after {
            "" => Ok((host, None)),
            _ => after.strip_prefix(':').map(|p| (host, Some(p))).ok_or_else(|| "junk after ]".into()),
        };
    }
    Ok(match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    })
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    let host = host.to_ascii_lowercase();
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(HostPattern::Exact(ip.to_string()));
    }
    let (pattern, name) = match host.strip_prefix("*.") {
        Some(suffix) => (HostPattern::Subdomains(format!(".{suffix}")), suffix),
        None => (HostPattern::Exact(host.clone()), host.as_str()),
    };
    let label_ok = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if name.is_empty() || !name.split('.').all(label_ok) {
        return Err(format!("{host:?} is not a host name, an IP address, * or *.domain"));
    }
    Ok(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn dest(scheme: &str, host: &str, port: u16) -> Destination {
        Destination { scheme: scheme.into(), host: host.into(), port }
    }

    #[test]
    fn spin_style_entries_match_scheme_host_and_port() {
        let l = list(&["https://api.openai.com", "https://*.fireworks.ai", "http://127.0.0.1:8099"]);
        assert_eq!(l.grant(&dest("https", "api.openai.com", 443)), Grant::Matched);
        assert_eq!(l.grant(&dest("http", "api.openai.com", 80)), Grant::Denied);
        assert_eq!(l.grant(&dest("https", "api.openai.com", 8443)), Grant::Denied);
        assert_eq!(l.grant(&dest("https", "x.api.fireworks.ai", 443)), Grant::Matched);
        assert_eq!(l.grant(&dest("https", "fireworks.ai", 443)), Grant::Denied);
        assert_eq!(l.grant(&dest("https", "evilfireworks.ai", 443)), Grant::Denied);
        assert_eq!(l.grant(&dest("http", "127.0.0.1", 8099)), Grant::AddressListed);
        assert_eq!(l.grant(&dest("http", "127.0.0.1", 8098)), Grant::Denied);
    }

    #[test]
    fn wildcards_for_scheme_and_port() {
        let l = list(&["*://example.com:*", "https://*"]);
        assert_eq!(l.grant(&dest("http", "example.com", 1234)), Grant::Matched);
        assert_eq!(l.grant(&dest("https", "anything.test", 443)), Grant::Matched);
        assert_eq!(l.grant(&dest("https", "10.0.0.1", 443)), Grant::Matched, "a wildcard is not the address");
        assert_eq!(list(&["http://[::1]:80"]).grant(&dest("http", "::1", 80)), Grant::AddressListed);
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "api.openai.com",
            "ftp://x.com",
            "https://x.com/v1",
            "https://x.com:http",
            "https://a..b",
            "https://u@x.com",
        ] {
            let err = AllowList::parse(&[bad.to_string()]).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
        assert!(AllowList::default().is_empty());
    }
}
