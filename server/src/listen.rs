//! memcached's `-l`: addresses separated by `,` or `;`, the flag given any number of times. Each
//! is `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; the port defaults to `-p`.
//! An address may start with memcached's `notls:` (plaintext even with `-Z`) or keel's `mtls:`
//! (TLS with a client certificate required; memcached 1.6.18 has no such prefix). memcached's
//! other per-listener prefixes (`proto[...]:`, `tag[...]:`) are refused.

use std::fmt;

/// One listen address as written: a host (name or IP, brackets removed), its port and prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListenSpec {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) prefix: Prefix,
}

/// The TLS prefix of one `-l` address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Prefix {
    /// None: TLS when `-Z` is given, plaintext otherwise.
    #[default]
    None,
    /// `notls:`: plaintext whatever `-Z` says.
    NoTls,
    /// `mtls:`: TLS with a client certificate from `ssl_ca_cert` required (needs `-Z`).
    MutualTls,
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Every address in the `-l` values, in order, without repeats.
pub(crate) fn parse(values: &[String], default_port: u16) -> Result<Vec<ListenSpec>, String> {
    let mut specs: Vec<ListenSpec> = Vec::new();
    for item in values
        .iter()
        .flat_map(|v| v.split([',', ';']))
        .filter(|item| !item.is_empty())
    {
        let spec = parse_one(item, default_port)?;
        if !specs.contains(&spec) {
            specs.push(spec);
        }
    }
    if specs.is_empty() {
        return Err("-l names no address".to_owned());
    }
    Ok(specs)
}

fn parse_one(item: &str, default_port: u16) -> Result<ListenSpec, String> {
    let (prefix, item) = if let Some(rest) = item.strip_prefix("notls:") {
        (Prefix::NoTls, rest)
    } else if let Some(rest) = item.strip_prefix("mtls:") {
        (Prefix::MutualTls, rest)
    } else {
        (Prefix::None, item)
    };
    if ["proto[", "tag["]
        .iter()
        .any(|prefix| item.starts_with(prefix))
    {
        return Err(format!(
            "per-listener options are not supported: \"{item}\""
        ));
    }
    let port = |text: &str| {
        text.parse::<u16>()
            .map_err(|_| format!("Invalid port number: \"{text}\""))
    };
    if let Some(rest) = item.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("Invalid IPV6 address: \"{item}\""))?;
        let port = match after {
            "" => default_port,
            _ => port(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("Invalid IPV6 address: \"{item}\""))?,
            )?,
        };
        return Ok(ListenSpec {
            host: host.to_owned(),
            port,
            prefix,
        });
    }
    // One colon separates a port; more than one is a bare IPv6 address (memcached's rule).
    match item.split_once(':') {
        Some((host, p)) if !p.contains(':') => Ok(ListenSpec {
            host: host.to_owned(),
            port: port(p)?,
            prefix,
        }),
        _ => Ok(ListenSpec {
            host: item.to_owned(),
            port: default_port,
            prefix,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(host: &str, port: u16) -> ListenSpec {
        ListenSpec {
            host: host.to_owned(),
            port,
            prefix: Prefix::None,
        }
    }

    #[test]
    fn tls_prefixes() {
        let values = ["notls:127.0.0.1:11212,mtls:[::1]:11213,127.0.0.1".to_owned()];
        let got = parse(&values, 11211).unwrap();
        let prefixes: Vec<(String, Prefix)> =
            got.iter().map(|s| (s.to_string(), s.prefix)).collect();
        assert_eq!(
            prefixes,
            [
                ("127.0.0.1:11212".to_owned(), Prefix::NoTls),
                ("[::1]:11213".to_owned(), Prefix::MutualTls),
                ("127.0.0.1:11211".to_owned(), Prefix::None),
            ]
        );
    }

    #[test]
    fn lists_ports_and_ipv6_forms() {
        let values = [
            "127.0.0.1,localhost:11212".to_owned(),
            "::1;[::1]:11213".to_owned(),
            "[fe80::1]".to_owned(),
            "127.0.0.1".to_owned(),
        ];
        assert_eq!(
            parse(&values, 11211),
            Ok(vec![
                spec("127.0.0.1", 11211),
                spec("localhost", 11212),
                spec("::1", 11211),
                spec("::1", 11213),
                spec("fe80::1", 11211),
            ])
        );
        assert_eq!(spec("::1", 1).to_string(), "[::1]:1");
        assert_eq!(spec("10.0.0.1", 2).to_string(), "10.0.0.1:2");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "127.0.0.1:http",
            "[::1",
            "[::1]x",
            "proto[ascii]:127.0.0.1",
            "tag[a]:127.0.0.1",
            "notls:proto[ascii]:127.0.0.1",
            ",",
        ] {
            assert!(parse(&[bad.to_owned()], 1).is_err(), "{bad:?} accepted");
        }
    }
}
