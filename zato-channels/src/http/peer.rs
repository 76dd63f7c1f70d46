//! What a security definition knows of the caller besides its headers: its address, checked
//! against CIDR ranges, and the client certificate it presented over TLS.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use zato_core::ConfigProblem;

use super::conn::{ClientCert, Conn};

/// The caller of one request, as its connection knows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer<'c> {
    /// The caller's address, an IPv4-mapped IPv6 address as IPv4.
    pub(super) ip: IpAddr,
    /// The client certificate it presented over TLS, if any.
    pub(super) cert: Option<&'c ClientCert>,
}

impl Conn {
    /// The caller on this connection.
    pub(super) fn peer(&self) -> Peer<'_> {
        Peer {
            ip: self.peer.ip().to_canonical(),
            cert: self.client_cert.get().and_then(Option::as_ref),
        }
    }
}

/// Address ranges allowed and denied.
#[derive(Debug, Clone)]
pub(super) struct IpFilter {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a single address.
fn range(text: &str) -> Option<IpNet> {
    let text = text.trim();
    IpNet::from_str(text)
        .ok()
        .or_else(|| IpAddr::from_str(text).ok().map(IpNet::from))
}

impl IpFilter {
    /// The filter of `allow` and `deny`; `None` when both are empty. Problems at
    /// `ip_allow[i]` and `ip_deny[i]`.
    pub(super) fn new(
        allow: &[String],
        deny: &[String],
        problems: &mut Vec<ConfigProblem>,
    ) -> Option<IpFilter> {
        let mut parse = |field: &str, list: &[String]| -> Vec<IpNet> {
            list.iter()
                .enumerate()
                .filter_map(|(i, text)| {
                    let parsed = range(text);
                    if parsed.is_none() {
                        problems.push(ConfigProblem::new(
                            format!("{field}[{i}]"),
                            format!(
                                "`{text}` is not an address or a CIDR range such as 10.0.0.0/8"
                            ),
                        ));
                    }
                    parsed
                })
                .collect()
        };
        let allow = parse("ip_allow", allow);
        let deny = parse("ip_deny", deny);
        (!allow.is_empty() || !deny.is_empty()).then_some(IpFilter { allow, deny })
    }

    /// Whether `ip` is let in: not denied, and allowed when there is an allow list.
    pub(super) fn admits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        !self.deny.iter().any(|net| net.contains(&ip))
            && (self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&ip)))
    }
}

/// The client certificates a `tls_client_cert` definition lets in.
#[derive(Debug, Clone)]
pub(super) struct CertMatch {
    subjects: Vec<String>,
    /// Lowercase hex, no separators.
    fingerprints: Vec<String>,
}

impl CertMatch {
    pub(super) fn new(
        subjects: &[String],
        fingerprints: &[String],
        problems: &mut Vec<ConfigProblem>,
    ) -> CertMatch {
        if subjects.is_empty() && fingerprints.is_empty() {
            problems.push(ConfigProblem::new(
                "subjects",
                "name at least one subject or fingerprint",
            ));
        }
        let fingerprints = fingerprints
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let hex: String = f
                    .chars()
                    .filter(|c| *c != ':')
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    problems.push(ConfigProblem::new(
                        format!("fingerprints[{i}]"),
                        "must be a SHA-256 fingerprint: 64 hex digits, colons allowed",
                    ));
                }
                hex
            })
            .collect();
        CertMatch {
            subjects: subjects.iter().map(|s| s.trim().to_owned()).collect(),
            fingerprints,
        }
    }

    /// Whether `cert` is one of those let in.
    pub(super) fn admits(&self, cert: &ClientCert) -> bool {
        self.fingerprints.contains(&cert.sha256)
            || cert
                .subject
                .as_ref()
                .is_some_and(|s| self.subjects.iter().any(|allowed| allowed == s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> IpFilter {
        let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut problems = Vec::new();
        let f = IpFilter::new(&own(allow), &own(deny), &mut problems).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        f
    }

    #[test]
    fn deny_wins_and_an_allow_list_is_closed() {
        let f = filter(&["10.0.0.0/8", "192.168.1.7"], &["10.9.0.0/16"]);
        assert!(f.admits("10.1.2.3".parse().unwrap()));
        assert!(f.admits("192.168.1.7".parse().unwrap()));
        assert!(!f.admits("192.168.1.8".parse().unwrap()));
        assert!(!f.admits("10.9.1.1".parse().unwrap()));
        // An IPv4 caller seen on an IPv6 socket.
        assert!(f.admits("::ffff:10.1.2.3".parse().unwrap()));
        let open = filter(&[], &["2001:db8::/32"]);
        assert!(open.admits("127.0.0.1".parse().unwrap()));
        assert!(!open.admits("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn a_bad_range_is_named() {
        let mut problems = Vec::new();
        let _ = IpFilter::new(&["10.0.0.0/33".to_owned()], &[], &mut problems);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "ip_allow[0]");
        assert!(IpFilter::new(&[], &[], &mut problems).is_none());
    }
}
