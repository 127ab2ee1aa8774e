//! The SSRF guard: a crawl submitted by anyone must not make a worker connect
//! to the operator's own network. Every address a fetch would connect to is
//! checked: names through a DNS resolver that drops forbidden addresses at
//! connect time (so DNS rebinding and redirects are covered), IP literals
//! before each hop (reqwest does not resolve those). Only the operator opens
//! it: `--allow-private` (everything) or `--allow-private HOST:PORT` (one
//! target); nothing in a crawl's spec can.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Which private targets the operator opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowPrivate {
    /// None: every forbidden address is refused (the default).
    #[default]
    Nothing,
    /// Every address (a trusted deployment, or tests of the whole machine).
    Everything,
    /// These `host:port` targets, as the URL names them (lower-case host).
    Targets(Vec<String>),
}

impl AllowPrivate {
    /// Parses the `--allow-private` values (the flag alone gives `all`):
    /// `all` or `*` opens everything; otherwise each is a `HOST:PORT` target.
    /// Empty values are skipped, so an empty `WORKER_ALLOW_PRIVATE` (as
    /// docker compose passes an unset variable) opens nothing.
    pub fn parse(values: &[String]) -> Result<Self, String> {
        let mut targets = Vec::new();
        for value in values {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if matches!(value, "all" | "*") {
                return Ok(Self::Everything);
            }
            let url = Url::parse(&format!("http://{value}/"))
                .ok()
                .filter(|u| u.path() == "/" && u.username().is_empty());
            let (Some(url), true) = (
                url,
                value
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok()),
            ) else {
                return Err(format!(
                    "--allow-private '{value}': give HOST:PORT (e.g. 127.0.0.1:8080), or no value to allow every private address"
                ));
            };
            targets.push(target_of(&url).unwrap_or_default());
        }
        if targets.is_empty() {
            return Ok(Self::Nothing);
        }
        Ok(Self::Targets(targets))
    }

    /// Whether the operator opened this URL's target (its host and port).
    pub fn opens(&self, url: &Url) -> bool {
        match self {
            Self::Nothing => false,
            Self::Everything => true,
            Self::Targets(targets) => {
                target_of(url).is_some_and(|target| targets.contains(&target))
            }
        }
    }
}

/// `host:port` of a URL, the port explicit or the scheme's default.
fn target_of(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    Some(format!("{host}:{}", url.port_or_known_default()?))
}

/// Why an address must not be connected to, or `None` when it is public.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if ip.is_unspecified() || a == 0 {
        "unspecified"
    } else if ip.is_multicast() {
        "multicast"
    } else if a == 100 && (64..128).contains(&b) {
        "shared (CGNAT)"
    } else if ip.is_broadcast() || a >= 240 {
        "reserved"
    } else {
        return None;
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4 address in IPv6 clothing is judged as the IPv4 address:
    // mapped (::ffff:a.b.c.d), the deprecated compatible form (::a.b.c.d),
    // and NAT64 (64:ff9b::a.b.c.d).
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if segments[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return forbidden_v4(embedded_v4(&ip));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded_v4(&ip));
    }
    let first = segments[0];
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if first & 0xfe00 == 0xfc00 {
        "private"
    } else if first & 0xffc0 == 0xfe80 {
        "link-local"
    } else if ip.is_multicast() {
        "multicast"
    } else {
        return None;
    })
}

fn embedded_v4(ip: &Ipv6Addr) -> Ipv4Addr {
    let [.., a, b, c, d] = ip.octets();
    Ipv4Addr::new(a, b, c, d)
}

/// The one-line reason a fetch was refused: `blocked: private address 10.0.0.1`.
pub fn refusal(ip: IpAddr, class: &str) -> String {
    format!("blocked: {class} address {ip} (a worker's --allow-private opens it)")
}

/// Checks an IP-literal URL before a hop; names are checked by [`Resolver`].
pub fn check_literal(url: &Url) -> Result<(), String> {
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    match forbidden(ip) {
        Some(class) => Err(refusal(ip, class)),
        None => Ok(()),
    }
}

/// Resolves names with the system resolver and keeps only public addresses;
/// a name with none left fails with the reason.
#[derive(Debug, Clone, Default)]
pub struct Resolver;

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let public: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|addr| match forbidden(addr.ip()) {
                    Some(class) => {
                        refused.get_or_insert_with(|| refusal(addr.ip(), class));
                        false
                    }
                    None => true,
                })
                .collect();
            if public.is_empty() {
                return Err(match refused {
                    Some(reason) => Box::new(Blocked(reason)) as _,
                    None => format!("no address for {host}").into(),
                });
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// A connection the guard refused, with the reason (the fetch records it and
/// does not retry).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Blocked(pub String);

/// The guarded resolver, as reqwest takes it.
pub fn resolver() -> Arc<Resolver> {
    Arc::new(Resolver)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<&'static str> {
        forbidden(text.parse().unwrap())
    }

    #[test]
    fn every_forbidden_class_is_refused() {
        for (ip, want) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.254", "shared (CGNAT)"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:100.64.1.1", "shared (CGNAT)"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::192.168.0.1", "private"),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "151.101.1.69",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700::6810:84e5",
            "::ffff:151.101.1.69",
            "64:ff9b::1.1.1.1",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn literals_are_checked_and_names_left_to_the_resolver() {
        let check = |u: &str| check_literal(&Url::parse(u).unwrap());
        assert!(check("http://127.0.0.1:8080/x").is_err());
        assert!(check("http://[::ffff:7f00:1]/x").is_err());
        assert!(check("http://[fe80::1]/x").is_err());
        assert!(check("http://1.1.1.1/").is_ok());
        assert!(check("http://localhost/").is_ok());
        assert_eq!(
            check("http://10.0.0.7/").unwrap_err(),
            "blocked: private address 10.0.0.7 (a worker's --allow-private opens it)"
        );
    }

    #[tokio::test]
    async fn the_resolver_drops_loopback_names() {
        let name: Name = "localhost".parse().unwrap();
        let error = match Resolver.resolve(name).await {
            Ok(_) => panic!("localhost resolved to an allowed address"),
            Err(error) => error.to_string(),
        };
        assert!(error.starts_with("blocked: loopback address"), "{error}");
    }

    #[test]
    fn allow_private_opens_all_or_named_targets() {
        let url = |u: &str| Url::parse(u).unwrap();
        assert_eq!(AllowPrivate::parse(&[]).unwrap(), AllowPrivate::Nothing);
        assert_eq!(
            AllowPrivate::parse(&["".into(), " ".into()]).unwrap(),
            AllowPrivate::Nothing,
            "an empty variable opens nothing"
        );
        assert_eq!(
            AllowPrivate::parse(&["all".into()]).unwrap(),
            AllowPrivate::Everything
        );
        let some = AllowPrivate::parse(&["127.0.0.1:8080".into(), "LocalHost:80".into()]).unwrap();
        assert!(some.opens(&url("http://127.0.0.1:8080/q")));
        assert!(!some.opens(&url("http://127.0.0.1:8081/q")));
        assert!(!some.opens(&url("https://127.0.0.1/q")));
        assert!(some.opens(&url("http://localhost/q")));
        for bad in ["127.0.0.1", "127.0.0.1:x", "http://a:1/path", "a:99999"] {
            assert!(AllowPrivate::parse(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(!AllowPrivate::Nothing.opens(&url("http://127.0.0.1:8080/")));
        assert!(AllowPrivate::Everything.opens(&url("http://127.0.0.1:8080/")));
    }
}
