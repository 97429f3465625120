//! The counts behind the front door's connection caps: per client address, the connections
//! that have not yet made an authenticated request, and per listener, every open connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use prometheus::IntGauge;

use crate::limits::lock::lock;

/// Open, not yet authenticated connections per client address.
pub struct AddressCounts {
    cap: u32,
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// One counted connection; dropping it frees the place.
pub struct AddressTicket {
    counts: Arc<AddressCounts>,
    address: IpAddr,
}

impl AddressCounts {
    pub fn new(cap: u32) -> Self {
        AddressCounts {
            cap,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one more connection from `address`, or `None` when it holds the cap.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<AddressTicket> {
        let mut counts = lock(&self.counts);
        let count = counts.entry(address).or_insert(0);
        if self.cap > 0 && *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(AddressTicket {
            counts: self.clone(),
            address,
        })
    }
}

impl Drop for AddressTicket {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts.counts);
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// The connections one listener holds open, against its cap (`limits.max_connections` or
/// `admin.max_connections`), which keeps the process below its descriptor limit: past the cap
/// a connection is answered 503 at once and closed. Fairness, so that a few addresses cannot
/// take every place: once three quarters of the cap are open, an address that already holds a
/// sixteenth of it gets no more, and the last quarter goes to addresses that hold little.
pub struct ConnectionCap {
    cap: usize,
    crowded: usize,
    share: u32,
    open: Mutex<OpenConnections>,
    gauge: IntGauge,
}

#[derive(Default)]
struct OpenConnections {
    total: usize,
    by_address: HashMap<IpAddr, u32>,
}

/// One open connection's place under the cap; dropping it frees the place.
pub struct OpenTicket {
    cap: Arc<ConnectionCap>,
    address: Option<IpAddr>,
}

impl ConnectionCap {
    pub fn new(cap: usize, gauge: IntGauge) -> Self {
        ConnectionCap {
            cap,
            crowded: cap - cap / 4,
            share: u32::try_from(cap / 16).unwrap_or(u32::MAX).max(1),
            open: Mutex::new(OpenConnections::default()),
            gauge,
        }
    }

    /// A place for a connection from `peer`, or `None` over the cap (or, with `share_held`,
    /// over the address's share while the listener is crowded).
    pub fn admit(self: &Arc<Self>, peer: Option<IpAddr>, share_held: bool) -> Option<OpenTicket> {
        let mut open = lock(&self.open);
        if open.total >= self.cap {
            return None;
        }
        let address = peer.filter(|_| share_held);
        if let Some(address) = address {
            let held = open.by_address.get(&address).copied().unwrap_or(0);
            if open.total >= self.crowded && held >= self.share {
                return None;
            }
            *open.by_address.entry(address).or_insert(0) += 1;
        }
        open.total += 1;
        self.gauge.inc();
        Some(OpenTicket {
            cap: Arc::clone(self),
            address,
        })
    }
}

impl Drop for OpenTicket {
    fn drop(&mut self) {
        let mut open = lock(&self.cap.open);
        open.total -= 1;
        self.cap.gauge.dec();
        if let Some(address) = self.address {
            if let Some(count) = open.by_address.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    open.by_address.remove(&address);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_keeps_its_last_quarter_for_addresses_that_hold_little() {
        let cap = Arc::new(ConnectionCap::new(
            32,
            IntGauge::new("open", "open").unwrap(),
        ));
        let greedy: IpAddr = "10.0.0.1".parse().unwrap();
        // Up to three quarters (24) anyone gets in; past them, not an address holding 2.
        let mut held: Vec<OpenTicket> = (0..24)
            .map(|_| cap.admit(Some(greedy), true).unwrap())
            .collect();
        assert!(cap.admit(Some(greedy), true).is_none());
        assert_eq!(cap.gauge.get(), 24);
        let others: Vec<OpenTicket> = (2..10)
            .map(|n| cap.admit(Some(IpAddr::from([10, 0, 0, n])), true).unwrap())
            .collect();
        assert!(
            cap.admit(Some("10.0.0.99".parse().unwrap()), true)
                .is_none(),
            "the cap holds for everyone"
        );
        drop(others);
        // A trusted balancer is held to the cap, not to a share.
        let balancer: Vec<OpenTicket> = (0..8).map(|_| cap.admit(None, false).unwrap()).collect();
        assert!(cap.admit(None, false).is_none());
        drop(balancer);
        held.truncate(10);
        assert!(
            cap.admit(Some(greedy), true).is_some(),
            "below three quarters again"
        );
        assert_eq!(cap.gauge.get(), 10);
        drop(held);
        assert_eq!(lock(&cap.open).total, 0);
        assert!(lock(&cap.open).by_address.is_empty());
    }

    #[test]
    fn addresses_are_capped_until_tickets_drop() {
        let counts = Arc::new(AddressCounts::new(2));
        let address: IpAddr = "10.0.0.1".parse().unwrap();
        let first = counts.admit(address).unwrap();
        let _second = counts.admit(address).unwrap();
        assert!(counts.admit(address).is_none());
        assert!(counts.admit("10.0.0.2".parse().unwrap()).is_some());
        drop(first);
        assert!(counts.admit(address).is_some());
    }
}
