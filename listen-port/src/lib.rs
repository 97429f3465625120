//! Port 0 for Pingora listeners.
//!
//! Pingora binds its listeners in its own service threads, from an address string, and tells
//! nobody which port the kernel picked for `:0`. A test (or anyone starting several servers on
//! one machine) that picks a free port itself and lets the server bind it later races every
//! other process doing the same: the port can be taken in between, and whoever then answers on
//! it is somebody else's server.
//!
//! So a `:0` address is resolved here, before the server starts: [`Reservation::new`] binds a
//! socket with `SO_REUSEPORT` only (no `SO_REUSEADDR`, never listening) to port 0. The kernel
//! gives it a port no other socket holds, and while it is held nothing can bind that port but
//! another `SO_REUSEPORT` socket of the same user that names it outright: Pingora's listener,
//! given the concrete address and [`Reservation::shares_port`]. The reserving socket never
//! listens, so it never takes a connection. [`report_when_listening`] then waits until every
//! named address has a listening socket (read from `/proc/net/tcp`, without connecting, so the
//! server sees no stray connection) and hands the bound addresses to a callback, which writes a
//! port file or prints them.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use pingora_core::listeners::TcpSocketOptions;
use socket2::{Domain, Socket, Type};

/// A listen address, with its port held when it was given as port 0.
pub struct Reservation {
    address: SocketAddr,
    /// The bound, never-listening socket that holds an ephemeral port until the server's own
    /// listener shares it; `None` for an address with a port of its own.
    held: Option<Socket>,
}

impl Reservation {
    /// Resolves `address` (`host:port`); port 0 becomes a reserved ephemeral port.
    pub fn new(address: &str) -> std::io::Result<Reservation> {
        let address = address.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{address}` names no address"),
            )
        })?;
        if address.port() != 0 {
            return Ok(Reservation {
                address,
                held: None,
            });
        }
        let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
        socket.set_reuse_port(true)?;
        socket.bind(&address.into())?;
        let address = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("the reserved socket has no IP address"))?;
        Ok(Reservation {
            address,
            held: Some(socket),
        })
    }

    /// The address to listen on: the reserved port in place of 0.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Whether the server's listener must set `SO_REUSEPORT` to bind the reserved port.
    pub fn shares_port(&self) -> bool {
        self.held.is_some()
    }

    /// The options of the Pingora listener on [`Reservation::address`]: `SO_REUSEPORT` where
    /// the port is reserved, nothing otherwise.
    pub fn tcp_options(&self) -> TcpSocketOptions {
        let mut options = TcpSocketOptions::default();
        options.so_reuseport = self.shares_port().then_some(true);
        options
    }
}

/// How long a server may take to listen on every address before the report gives up.
const LISTEN_LIMIT: Duration = Duration::from_secs(60);

/// In a thread of its own, waits until each of `reservations` has a listening socket, then
/// lets the reserving sockets go and calls `report` with the addresses, in the order given.
/// Gives up with a warning after a minute.
pub fn report_when_listening(
    reservations: Vec<Reservation>,
    report: impl FnOnce(&[SocketAddr]) + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name("listen-report".into())
        .spawn(move || {
            let addresses: Vec<SocketAddr> = reservations.iter().map(|r| r.address).collect();
            let deadline = Instant::now() + LISTEN_LIMIT;
            while !addresses.iter().all(|address| listening(*address)) {
                if Instant::now() > deadline {
                    log::warn!(
                        "not listening on every address after {LISTEN_LIMIT:?}: {addresses:?}"
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            drop(reservations);
            report(&addresses);
        });
    if let Err(e) = spawned {
        log::warn!("cannot start the listen report: {e}");
    }
}

/// Writes `lines` to `path` whole: a reader polling for the file never sees half of it.
pub fn write_file_whole(path: &Path, lines: &str) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, lines)?;
    std::fs::rename(&partial, path)
}

/// Whether a socket of this machine listens on `address`'s port (Linux's socket tables).
pub fn listening(address: SocketAddr) -> bool {
    let table = match address {
        SocketAddr::V4(_) => "/proc/net/tcp",
        SocketAddr::V6(_) => "/proc/net/tcp6",
    };
    std::fs::read_to_string(table)
        .map(|text| listens_in_table(&text, address.port()))
        .unwrap_or(false)
}

/// TCP state `0A` is LISTEN in `/proc/net/tcp`; the local address is `HEXIP:HEXPORT`.
const LISTEN_STATE: &str = "0A";

fn listens_in_table(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1);
        let state = fields.nth(1);
        let local_port = local
            .and_then(|local| local.rsplit_once(':'))
            .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
        local_port == Some(port) && state == Some(LISTEN_STATE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;

    #[test]
    fn port_zero_is_reserved_and_nothing_else_binds_it() {
        let reservation = Reservation::new("127.0.0.1:0").unwrap();
        let port = reservation.address().port();
        assert_ne!(port, 0);
        assert!(reservation.shares_port());
        assert!(TcpListener::bind(("127.0.0.1", port)).is_err());
        let plain = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        plain.set_reuse_address(true).unwrap();
        assert!(plain.bind(&reservation.address().into()).is_err());
    }

    #[test]
    fn the_server_shares_the_port_with_reuse_port_and_is_reported() {
        let reservation = Reservation::new("127.0.0.1:0").unwrap();
        let address = reservation.address();
        assert!(!listening(address));
        let server = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        server.set_reuse_address(true).unwrap();
        server.set_reuse_port(true).unwrap();
        server.bind(&address.into()).unwrap();
        server.listen(16).unwrap();
        let (sender, reported) = mpsc::channel();
        report_when_listening(vec![reservation], move |bound| {
            let _ = sender.send(bound.to_vec());
        });
        let bound = reported.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(bound, vec![address]);
        let _client = std::net::TcpStream::connect(address).unwrap();
        assert!(server.accept().is_ok());
    }

    #[test]
    fn a_port_of_its_own_is_kept_as_given() {
        let reservation = Reservation::new("127.0.0.1:8089").unwrap();
        assert_eq!(reservation.address().port(), 8089);
        assert!(!reservation.shares_port());
    }

    #[test]
    fn the_table_is_read_by_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue\n\
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n\
           1: 0100007F:1F91 0100007F:C350 01 00000000:00000000 00:00000000 00000000\n";
        assert!(listens_in_table(table, 0x1F90));
        assert!(!listens_in_table(table, 0x1F91));
        assert!(!listens_in_table(table, 80));
    }
}
