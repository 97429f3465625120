//! The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a load balancer sends
//! before the client's bytes, naming the client's address. Sans-IO: parses what has arrived.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const V1_PREFIX: &[u8] = b"PROXY ";
/// A version 1 header is at most 107 bytes, CRLF included.
const V1_MAX: usize = 107;
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const V2_FIXED: usize = 16;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The header is `length` bytes; `source` is the client, `None` for a balancer's own
    /// (LOCAL or UNKNOWN) connection.
    Done {
        length: usize,
        source: Option<IpAddr>,
    },
    NeedMore,
    Invalid(&'static str),
}

pub fn parse(buf: &[u8]) -> Parsed {
    if buf.len() < V1_PREFIX.len().min(V2_SIGNATURE.len()) {
        return if V1_PREFIX.starts_with(buf) || V2_SIGNATURE.starts_with(buf) {
            Parsed::NeedMore
        } else {
            Parsed::Invalid("the connection does not start with one")
        };
    }
    if buf.starts_with(V1_PREFIX) {
        return parse_v1(buf);
    }
    if buf.len() < V2_SIGNATURE.len() {
        return match V2_SIGNATURE.starts_with(buf) {
            true => Parsed::NeedMore,
            false => Parsed::Invalid("the connection does not start with one"),
        };
    }
    if buf.starts_with(V2_SIGNATURE) {
        return parse_v2(buf);
    }
    Parsed::Invalid("the connection does not start with one")
}

/// `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n`, or `PROXY UNKNOWN ...\r\n`.
fn parse_v1(buf: &[u8]) -> Parsed {
    let Some(end) = buf.windows(2).position(|pair| pair == b"\r\n") else {
        return match buf.len() >= V1_MAX {
            true => Parsed::Invalid("version 1 header longer than 107 bytes"),
            false => Parsed::NeedMore,
        };
    };
    if end + 2 > V1_MAX {
        return Parsed::Invalid("version 1 header longer than 107 bytes");
    }
    let Ok(line) = std::str::from_utf8(&buf[V1_PREFIX.len()..end]) else {
        return Parsed::Invalid("version 1 header is not text");
    };
    let mut fields = line.split(' ');
    let source = match (fields.next(), fields.next()) {
        (Some("UNKNOWN"), _) => None,
        (Some("TCP4" | "TCP6"), Some(address)) => match address.parse::<IpAddr>() {
            Ok(address) => Some(address),
            Err(_) => return Parsed::Invalid("version 1 source address"),
        },
        _ => return Parsed::Invalid("version 1 protocol must be TCP4, TCP6 or UNKNOWN"),
    };
    Parsed::Done {
        length: end + 2,
        source,
    }
}

fn parse_v2(buf: &[u8]) -> Parsed {
    if buf.len() < V2_FIXED {
        return Parsed::NeedMore;
    }
    let version_command = buf[12];
    if version_command >> 4 != 2 {
        return Parsed::Invalid("version 2 header with another version");
    }
    let length = V2_FIXED + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if buf.len() < length {
        return Parsed::NeedMore;
    }
    let addresses = &buf[V2_FIXED..length];
    let local = version_command & 0x0f == 0;
    let source = match (local, buf[13] >> 4) {
        (true, _) => None,
        (false, 1) if addresses.len() >= 12 => Some(IpAddr::V4(Ipv4Addr::new(
            addresses[0],
            addresses[1],
            addresses[2],
            addresses[3],
        ))),
        (false, 2) if addresses.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&addresses[..16]);
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        // UNIX sockets or unspecified: no client address to count.
        (false, 0 | 3) => None,
        _ => return Parsed::Invalid("version 2 address block"),
    };
    Parsed::Done { length, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
        header.extend_from_slice(addresses);
        header
    }

    #[test]
    fn version_1_names_the_client() {
        let header = b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 8080\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(header),
            Parsed::Done {
                length: 42,
                source: Some("192.0.2.7".parse().unwrap())
            }
        );
        for split in 0..42 {
            assert_eq!(parse(&header[..split]), Parsed::NeedMore, "split {split}");
        }
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Done {
                length: 15,
                source: None
            }
        );
        assert!(matches!(parse(b"GET / HTTP/1.1\r\n"), Parsed::Invalid(_)));
        assert!(matches!(
            parse(b"PROXY TCP4 nonsense 1 2 3\r\n"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(parse(&[b'P'; 200]), Parsed::Invalid(_)));
    }

    #[test]
    fn version_2_names_the_client() {
        let mut addresses = vec![198, 51, 100, 9, 10, 0, 0, 1];
        addresses.extend_from_slice(&[0xdc, 0x04, 0x1f, 0x90]);
        let header = v2(1, 0x11, &addresses);
        let mut with_request = header.clone();
        with_request.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&with_request),
            Parsed::Done {
                length: header.len(),
                source: Some("198.51.100.9".parse().unwrap())
            }
        );
        assert_eq!(parse(&header[..header.len() - 1]), Parsed::NeedMore);
        assert_eq!(
            parse(&v2(0, 0, &[])),
            Parsed::Done {
                length: 16,
                source: None
            }
        );
    }
}
